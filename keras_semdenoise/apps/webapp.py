"""``semdenoise serve``: a local web page that denoises one image at a time.

    GET  /             the page (``keras_semdenoise/web/index.html``: HTML, CSS and JS in one file, nothing
                       fetched from elsewhere)
    GET  /api/limits   ``{"max_megapixels", "max_upload_mb", "precision"}`` for the page to show
    POST /api/denoise  a ``multipart/form-data`` form with
                         ``image``      the file (anything Pillow reads, as ``semdenoise denoise`` takes)
                         ``sigma``      ``auto`` (default: estimated, the model chosen as ``--sigma auto`` does)
                                        or a level on the 0..255 scale (the model ``--sigma LEVEL`` uses)
                         ``add_noise``  optional sigma (0..255): the upload is clean; seeded Gaussian noise of
                                        this level (``noise.add_seeded_gaussian_noise``) is added first, and the
                                        answer has the PSNR of the noisy and of the denoised image against it
                       answered with the JSON of ``denoise_upload`` (the PNGs base64-encoded), or a 4xx/5xx
                       JSON ``{"error": "one line"}`` that the page shows: 400 empty or missing file or a bad
                       field, 413 too many bytes or pixels, 415 not an image.

Uploads are held in memory (never written to disk) up to ``--max-upload-mb``, checked while they arrive
(``uploads``); images are checked against ``--max-megapixels`` from their header before they are decoded. Models are
loaded on first use and kept, one per (file, precision); denoising runs in a worker thread, one image at
a time, with the CLI's tiling, so the page and other requests are answered meanwhile. Starlette and
uvicorn are imported when the server starts, so ``semdenoise --help`` stays fast.
"""

from __future__ import annotations

import base64
import errno
import math
import os
import socket
import threading
import time

from keras_semdenoise import imageio, noise, quiet
from keras_semdenoise.apps.uploads import Limits, RequestError, parse_flag, parse_noise_level, read_upload
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import shipped

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_MEGAPIXELS = 16.0
DEFAULT_MAX_UPLOAD_MB = 64.0
DOWNLOAD_SUFFIX = "_denoised"


class ServeError(ValueError):
    """The server cannot start (bad option, port in use, no model): one line for the user."""


class ModelCache:
    """Denoisers loaded once per (model file, precision) and shared by every request (thread-safe)."""

    def __init__(self):
        self._models, self._lock = {}, threading.Lock()

    def get(self, path: str, precision: str):
        key = (os.path.realpath(path), precision)
        with self._lock:
            if key not in self._models:
                self._models[key] = inference.load_denoiser(path, precision=precision)
            return self._models[key]


def _psnr_or_none(reference, test) -> float | None:
    """``metrics.psnr_uint8`` in dB, None where the images are identical (infinite PSNR; JSON has no inf)."""
    from keras_semdenoise.metrics import psnr_uint8

    value = psnr_uint8(reference, test)
    return None if math.isinf(value) else round(value, 2)


_compute_lock = threading.Lock()  # one image at a time: two at once would be no faster on the same cores


def denoise_upload(
    data: bytes,
    filename: str,
    sigma_255: float | None,
    added_noise_255: float | None,
    models: ModelCache,
    precision: str,
    limits: Limits,
    self_ensemble: bool = False,
) -> dict:
    """Denoises one uploaded file held in memory (runs in a worker thread).

    Args:
        data: the file's bytes; filename: its name as uploaded (only the base name is used: messages,
            the noise seed, the download name).
        sigma_255: the noise level on the 0..255 scale that picks the model, or None to estimate it
            (``noise.estimate_sigma``) and pick as ``--sigma auto`` does (both ``shipped.resolve_model``).
        added_noise_255: None, or the upload is clean and seeded Gaussian noise of this level is added first.
        precision: ``"bf16"`` or ``"fp32"`` (already resolved).
        self_ensemble: average over the 8 flips/rotations (``inference.denoise``; 8x the time).

    Returns:
        A JSON-ready dict: ``filename`` (the download's name), ``width``, ``height``, ``notes``,
        ``estimated_sigma`` (of the image the model saw), ``sigma`` (as given, None for auto), ``model``
        (file name), ``model_reason`` (why that model, as the CLI's notes say it), ``precision``,
        ``self_ensemble``, ``seconds`` (denoising alone), ``added_noise_sigma``,
        ``psnr_noisy_db`` / ``psnr_denoised_db`` (dB against the clean upload; None without added noise),
        ``psnr_change_db`` (dB between what the model saw and its output), and ``before_png`` /
        ``after_png``: base64 PNGs in the upload's form (grayscale, alpha, 16-bit, ICC and EXIF kept), of the
        image the model saw (clipped to [0, 1]) and of the denoised one.

    Raises:
        RequestError: 400 empty file, 413 more than ``limits.max_pixels``, 415 not an image.
        FileNotFoundError: no shipped model.
    """
    name = os.path.basename(filename.replace("\\", "/")) or "upload"
    if not data:
        raise RequestError(400, f"{name} is empty (0 bytes): choose an image file")
    try:
        loaded = imageio.read_image_bytes(data, name, max_pixels=limits.max_pixels)
    except imageio.ImageTooLargeError as error:
        raise RequestError(
            413, f"{error} (the most this server takes: --max-megapixels {limits.max_pixels / 1e6:g})"
        ) from None
    except imageio.ImageReadError as error:
        raise RequestError(415, str(error)) from None
    clean = loaded.pixels if added_noise_255 is not None else None
    seen = loaded.pixels if clean is None else noise.add_seeded_gaussian_noise(clean, added_noise_255, name)
    choice = shipped.resolve_model(sigma_255=sigma_255, pixels=seen)
    estimate = choice.estimate if choice.estimate is not None else noise.estimate_sigma(seen)
    model = models.get(choice.path, precision)
    with _compute_lock:
        start = time.perf_counter()
        output = inference.denoise(model, seen, self_ensemble=self_ensemble)
        seconds = time.perf_counter() - start
    height, width = seen.shape[:2]
    return {
        "filename": os.path.splitext(name)[0] + DOWNLOAD_SUFFIX + ".png",
        "width": width,
        "height": height,
        "notes": loaded.notes,
        "estimated_sigma": round(estimate, 2),
        "sigma": sigma_255,
        "model": os.path.basename(choice.path),
        "model_reason": choice.reason,
        "precision": precision,
        "self_ensemble": self_ensemble,
        "seconds": round(seconds, 3),
        "added_noise_sigma": added_noise_255,
        "psnr_noisy_db": None if clean is None else _psnr_or_none(clean, seen),
        "psnr_denoised_db": None if clean is None else _psnr_or_none(clean, output),
        "psnr_change_db": _psnr_or_none(seen, output),
        "before_png": base64.b64encode(imageio.encode_like(seen, loaded)).decode("ascii"),
        "after_png": base64.b64encode(imageio.encode_like(output, loaded)).decode("ascii"),
    }


def create_app(
    precision: str = "auto",
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    say=None,
):
    """The Starlette application (an ASGI app) behind ``semdenoise serve``.

    Args:
        precision: ``auto``, ``bf16`` or ``fp32``, as ``semdenoise denoise --precision``.
        say: optional ``say(line)`` called with one line per denoised image (the server's log).
    """
    from importlib import resources

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    try:
        limits = Limits.from_options(max_megapixels, max_upload_mb)
        precision = inference.resolve_precision(precision)
    except ValueError as error:
        raise ServeError(str(error)) from None
    models = ModelCache()
    page = (resources.files(__package__) / "web" / "index.html").read_text(encoding="utf-8")

    async def index(request):
        return HTMLResponse(page)

    async def limits_json(request):
        return JSONResponse(
            {
                "max_megapixels": limits.max_pixels / 1e6,
                "max_upload_mb": limits.max_upload_bytes / 1e6,
                "precision": precision,
            }
        )

    async def denoise(request):
        try:
            data, filename, fields = await read_upload(request, limits)
            sigma_255, added_noise_255 = parse_noise_level(fields, "sigma"), parse_noise_level(fields, "add_noise")
            self_ensemble = parse_flag(fields, "self_ensemble")
            result = await run_in_threadpool(
                denoise_upload, data, filename, sigma_255, added_noise_255, models, precision, limits, self_ensemble
            )
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        except FileNotFoundError as error:  # the shipped models went away while serving
            return JSONResponse({"error": str(error)}, status_code=503)
        except MemoryError:
            return JSONResponse({"error": "out of memory: try a smaller image"}, status_code=503)
        if say:
            chosen = f"{result['model_reason']} ({result['model']})"
            if result["sigma"] is None:
                chosen = f"estimated sigma {result['estimated_sigma']:.1f} -> {chosen}"
            say(f"{filename}: {result['width']}x{result['height']}, {chosen}, {result['seconds']:.2f} s")
        return JSONResponse(result)

    async def bug(request, error):  # the traceback goes to the server's log as well (Starlette re-raises)
        return JSONResponse(
            {"error": f"internal error ({type(error).__name__}: {error}); the server's log has the details"},
            status_code=500,
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/limits", limits_json),
            Route("/api/denoise", denoise, methods=["POST"]),
        ],
        exception_handlers={Exception: bug},
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one); ``ServeError`` with the reason if not."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port must be in 0..65535, got {port}")
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise ServeError(f"--host {host}: {error.strerror}") from None
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart right after a stop may reuse the port
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use (another server?); stop it or choose another --port"
            ) from None
        if error.errno == errno.EACCES:
            raise ServeError(
                f"not allowed to listen on port {port} (ports below 1024 need root); choose another --port"
            ) from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise ServeError(f"--host {host} is not an address of this machine") from None
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port/`` of a bound socket (IPv6 addresses in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    precision: str = "auto",
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    say=print,
) -> None:
    """Serves the page on ``host:port`` until interrupted (Ctrl+C), saying its address first.

    Raises:
        ServeError: a bad option, a port that cannot be had, or no shipped model.
    """
    import uvicorn

    try:
        Limits.from_options(max_megapixels, max_upload_mb)  # bad options fail before the port is taken
    except ValueError as error:
        raise ServeError(str(error)) from None
    sock = bind_socket(host, port)
    try:
        quiet.import_backend()
        try:
            shipped.choose_model_for_sigma(0.0)
        except FileNotFoundError as error:
            raise ServeError(str(error)) from None
        app = create_app(precision, max_megapixels, max_upload_mb, say=say)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
        if sock.getsockname()[0] not in ("127.0.0.1", "::1"):
            say(f"listening on {host}: anyone who can reach this machine can upload images")
        say(f"serving the denoiser page at {url_of(sock)} (Ctrl+C stops)")
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it handled
            pass
    finally:
        sock.close()
