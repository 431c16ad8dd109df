"""One evaluation loop for denoisers: PSNR/SSIM per image and per set, JSON and paper-style markdown.

Protocol (stated in every table): seeded Gaussian noise per image and sigma
(``noise.add_seeded_gaussian_noise``), float, unclipped; outputs clipped to
[0, 1] and rounded to 8 bits; PSNR over the whole image, RGB jointly
(``metrics.psnr_uint8``); SSIM per ``metrics.ssim_uint8``. Results are saved
after every image, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from keras_semdenoise import metrics, noise
from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import paper, store

PROTOCOL = (
    "PSNR on the whole image, RGB jointly, after clipping to [0,1] and rounding to 8 bits; "
    "i.i.d. Gaussian noise added in float, unclipped, seeded per image name and sigma "
    "(every method sees the same noisy input)"
)

# The method that returns its input (no time to speak of).
NOISY_METHOD = "noisy input"

# A method maps (noisy image, sigma_255) -> denoised image, both (H, W, 3) float32.
Method = Callable[[np.ndarray, float], np.ndarray]


def machine_description() -> str:
    """E.g. "AMD EPYC (x86_64), 2 CPU cores, Linux (Python 3.11.7)": the CPU's model name where /proc/cpuinfo
    states it."""
    from keras_semdenoise.deploy.precision import cpu_model_name

    name = cpu_model_name()
    cpu = f"{name} ({platform.machine()})" if name else platform.machine()
    return f"{cpu}, {os.cpu_count()} CPU cores, {platform.system()} (Python {platform.python_version()})"


def with_identity(method: Method, identity: str | None) -> Method:
    """Tags ``method`` with what it is (e.g. a model file's hash) so cached results of another are not reused."""
    method.identity = identity
    return method


def file_identity(path: str) -> str:
    """``<file name> sha256:<first 16 hex digits>`` of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{os.path.basename(path)} sha256:{digest.hexdigest()[:16]}"


def model_identity(path: str) -> str:
    """``<file name> weights-sha256:<first 16 hex digits>`` of a ``.keras`` file's configuration and weight values
    (names, dtypes, shapes, bytes), so the same model saved again (a new save date inside the file) keeps its
    identity; ``file_identity`` for any other file."""
    import io
    import json
    import zipfile

    import h5py

    if not zipfile.is_zipfile(path):
        return file_identity(path)
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as archive:
        digest.update(json.dumps(_without_object_ids(json.loads(archive.read("config.json"))), sort_keys=True).encode())
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
            datasets = []
            weights.visititems(lambda name, item: datasets.append(name) if isinstance(item, h5py.Dataset) else None)
            for name in sorted(datasets):
                values = np.asarray(weights[name])
                digest.update(f"{name}|{values.dtype}|{values.shape}".encode())
                digest.update(np.ascontiguousarray(values).tobytes())
    return f"{os.path.basename(path)} weights-sha256:{digest.hexdigest()[:16]}"


def model_identity_or_none(path: str | None) -> str | None:
    """``model_identity`` of ``path``, or None where there is no path or no such file (what the records of
    what an output was made from say of a model that is not there)."""
    return model_identity(path) if path and os.path.exists(path) else None


def _without_object_ids(config):
    """A saved Keras configuration without its ``shared_object_id`` entries (Python object ids of the saving
    process, different at every save)."""
    if isinstance(config, dict):
        return {k: _without_object_ids(v) for k, v in config.items() if k != "shared_object_id"}
    if isinstance(config, list):
        return [_without_object_ids(v) for v in config]
    return config


def named_models(entries, sigma_template: bool = False) -> dict[str, str]:
    """``{name: path}`` from ``NAME=PATH`` strings (the tools' repeated ``--model`` flags), in their order.

    With ``sigma_template`` a path may hold ``{sigma}``, filled per noise level (a level whose file is missing
    is left out), so files are not checked here; otherwise each file must exist.

    Raises:
        ValueError: an entry without a name or a path, a name given twice, or (without ``sigma_template``)
            a file that does not exist.
    """
    models: dict[str, str] = {}
    for entry in entries:
        name, separator, path = entry.partition("=")
        if not separator or not name or not path:
            raise ValueError(f"--model takes NAME=PATH, got {entry!r}")
        if name in models:
            raise ValueError(f"--model {name!r} is given twice")
        if not sigma_template and not os.path.exists(path):
            raise ValueError(f"--model {name!r}: no file {path}")
        models[name] = path
    return models


def denoiser_method(model, tile_size: int = inference.DEFAULT_TILE_SIZE, self_ensemble: bool = False) -> Method:
    """A ``Method`` running a loaded denoiser (``inference.denoise``: whole image, or tiled above ``tile_size``)."""
    return lambda noisy, _sigma: inference.denoise(model, noisy, tile_size=tile_size, self_ensemble=self_ensemble)


def measure(
    method: Method,
    noisy: np.ndarray,
    clean: np.ndarray,
    sigma_255: float,
    with_ssim: bool = False,
    crop_border: int = 0,
) -> dict:
    """``{"psnr", "seconds", "pixels"[, "ssim"]}`` of ``method`` on one noisy image against its clean one.

    ``noisy`` and ``clean`` are (H, W, 3) float32, ``clean`` in [0, 1]; the output is clipped to [0, 1] and
    rounded to 8 bits before PSNR (dB) / SSIM (``metrics.psnr_uint8`` / ``ssim_uint8``); ``seconds`` times
    the method alone, on ``pixels`` = H x W.
    """
    start = time.perf_counter()
    output = method(noisy, sigma_255)
    seconds = time.perf_counter() - start
    entry = {
        "psnr": metrics.psnr_uint8(clean, output, crop_border),
        "seconds": seconds,
        "pixels": int(clean.shape[0] * clean.shape[1]),
    }
    if with_ssim:
        entry["ssim"] = metrics.ssim_uint8(clean, output, crop_border)
    return entry


def measure_image(
    method: Method, name: str, clean: np.ndarray, sigma_255: float, with_ssim: bool = False, crop_border: int = 0
) -> dict:
    """``measure`` on the protocol's noisy input: ``clean`` ((H, W, 3) float32 in [0, 1]) plus Gaussian
    noise of ``sigma_255`` (0..255 scale) seeded by ``name`` and sigma (``noise.add_seeded_gaussian_noise``)."""
    noisy = noise.add_seeded_gaussian_noise(clean, sigma_255, name)
    return measure(method, noisy, clean, sigma_255, with_ssim, crop_border)


def mean_psnr(method: Method, images: list[tuple[str, np.ndarray]], sigma_255: float) -> float:
    """Mean PSNR (dB) of ``method`` over ``[(name, clean (H, W, 3) float32 in [0, 1])]`` at ``sigma_255``."""
    return float(np.mean([measure_image(method, name, clean, sigma_255)["psnr"] for name, clean in images]))


def evaluate(
    datasets: dict[str, list[tuple[str, np.ndarray]]],
    sigmas: list[float],
    methods: dict[str, Callable[[float], Method | None]],
    results_path: str | None = None,
    with_ssim: bool = True,
    crop_border: int = 0,
    progress: bool = True,
) -> dict:
    """Runs every method on every image at every sigma.

    Args:
        datasets: ``{set name: [(image name, clean (H, W, 3) float32 in [0, 1])]}``.
        sigmas: noise levels on the 0..255 scale.
        methods: ``{method name: factory}``; ``factory(sigma)`` gives the method for that
            sigma, or None if the method has nothing for it (the cell is left empty).
        results_path: JSON file written after every image; existing entries are reused
            unless the method's ``identity`` attribute (see ``with_identity``) differs from
            the one they were measured with.
        crop_border: pixels cut from each edge before measuring (official-code variant).

    Returns:
        ``{"protocol", "machine", "results": {set: {sigma: {method: {"images": {name:
        {"psnr", "ssim", "seconds"}}, "mean_psnr", "mean_ssim"}}}}}``.
    """
    from tqdm import tqdm

    state = store.load(results_path)
    state.setdefault("results", {})
    state["protocol"] = PROTOCOL + (f"; {crop_border}px border cropped" if crop_border else "")
    state["machine"] = machine_description()
    total = sum(len(images) for images in datasets.values()) * len(sigmas) * len(methods)
    bar = tqdm(total=total, disable=not progress, desc="evaluating", unit="run")
    for set_name, images in datasets.items():
        for sigma in sigmas:
            sigma_key = f"{sigma:g}"
            for method_name, factory in methods.items():
                method = factory(sigma)
                cell = (
                    state["results"]
                    .setdefault(set_name, {})
                    .setdefault(sigma_key, {})
                    .setdefault(method_name, {"images": {}})
                )
                identity = getattr(method, "identity", None)
                if method is not None and cell.get("identity") != identity:
                    # Another model under the same name (say a newly shipped one): measure it afresh.
                    cell.clear()
                    cell.update({"images": {}, "identity": identity})
                for image_name, clean in images:
                    bar.set_postfix_str(f"{set_name} s{sigma_key} {method_name} {image_name}")
                    bar.update(1)
                    if image_name in cell["images"]:
                        # Entries measured before sizes were recorded get theirs (for seconds per megapixel).
                        cell["images"][image_name].setdefault("pixels", int(clean.shape[0] * clean.shape[1]))
                    if method is None or image_name in cell["images"]:
                        continue
                    cell["images"][image_name] = measure_image(method, image_name, clean, sigma, with_ssim, crop_border)
                    _summarise(cell, [name for name, _ in images])
                    store.save(results_path, state)
                if method is None:
                    state["results"][set_name][sigma_key].pop(method_name, None)
    bar.close()
    store.save(results_path, state)
    return state


def _summarise(cell: dict, names: list[str]) -> None:
    entries = [cell["images"][n] for n in names if n in cell["images"]]
    cell["count"] = len(entries)
    cell["mean_psnr"] = float(np.mean([e["psnr"] for e in entries]))
    if all("ssim" in e for e in entries):
        cell["mean_ssim"] = float(np.mean([e["ssim"] for e in entries]))
    cell["mean_seconds"] = float(np.mean([e["seconds"] for e in entries]))


def seconds_per_megapixel(cells: list[dict]) -> float | None:
    """Median over images of seconds per megapixel in ``cells`` (``evaluate`` cells; entries with ``pixels``).

    A median, so an image timed while the machine was busy does not move it much; None without sizes.
    """
    rates = [
        1e6 * e["seconds"] / e["pixels"] for cell in cells for e in cell.get("images", {}).values() if e.get("pixels")
    ]
    return float(np.median(rates)) if rates else None


def speed_table(state: dict) -> str:
    """Markdown: each method's seconds per megapixel (``seconds_per_megapixel`` over every set and sigma)."""
    cells = {}
    for by_sigma in state["results"].values():
        for by_method in by_sigma.values():
            for method, cell in by_method.items():
                cells.setdefault(method, []).append(cell)
    rows = [(m, seconds_per_megapixel(c)) for m, c in cells.items()]
    rows = [(m, rate) for m, rate in rows if rate is not None and m != NOISY_METHOD]
    if not rows:
        return ""
    lines = [
        "### Time (seconds per megapixel)",
        "",
        "Median over every image and sigma of the table above, timed inside the evaluation on its machine "
        "(not alone: `make bench` gives controlled timings).",
        "",
        "| method | s/MP |",
        "| --- | --- |",
    ]
    lines += [f"| {method} | {rate:.2f} |" for method, rate in rows]
    return "\n".join(lines) + "\n"


def markdown_tables(state: dict, per_image: bool = True) -> str:
    """Paper-style tables (Tables II/III): methods x sigmas per set, the paper's numbers beside."""
    lines = [f"Protocol: {state['protocol']}.", "", f"Machine: {state['machine']}.", ""]
    for set_name, by_sigma in state["results"].items():
        sigmas = sorted(by_sigma, key=float)
        methods = list(dict.fromkeys(m for s in sigmas for m in by_sigma[s]))
        counts = {by_sigma[s][m].get("count", 0) for s in sigmas for m in by_sigma[s]}
        lines += [f"### {set_name} ({', '.join(str(c) for c in sorted(counts))} images): mean PSNR (dB) / SSIM", ""]
        lines.append("| method | " + " | ".join(f"sigma {s}" for s in sigmas) + " |")
        lines.append("| --- |" + " --- |" * len(sigmas))
        for method in methods:
            cells = []
            for s in sigmas:
                cell = by_sigma[s].get(method)
                if not cell or not cell.get("count"):
                    cells.append("")
                    continue
                text = f"{cell['mean_psnr']:.2f}"
                if "mean_ssim" in cell:
                    text += f" / {cell['mean_ssim']:.4f}"
                cells.append(text)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        for method, values in paper.PSNR.get(set_name, {}).items():
            cells = [f"{values[int(float(s))]:.2f}" if int(float(s)) in values else "" for s in sigmas]
            if any(cells):
                lines.append(f"| paper: {method} | " + " | ".join(cells) + " |")
        lines.append("")
        if per_image:
            lines += [f"#### {set_name}: PSNR (dB) per image", ""]
            columns = [(s, m) for s in sigmas for m in by_sigma[s]]
            lines.append("| image | " + " | ".join(f"{m} s{s}" for s, m in columns) + " |")
            lines.append("| --- |" + " --- |" * len(columns))
            names = list(dict.fromkeys(n for s, m in columns for n in by_sigma[s][m]["images"]))
            for name in names:
                row = []
                for s, m in columns:
                    entry = by_sigma[s][m]["images"].get(name)
                    row.append(f"{entry['psnr']:.2f}" if entry else "")
                lines.append(f"| {name} | " + " | ".join(row) + " |")
            lines.append("")
    speed = speed_table(state)
    if speed:
        lines += [speed]
    return "\n".join(lines)
