"""Whole-image and tiled inference, and where the shipped models live.

Images here are (H, W, 3) float32 in [0, 1] (plus noise); the output is the
denoised float image, unclipped (``metrics.to_uint8`` clips and rounds at the edge).
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np

# Margin each tile keeps around the pixels it contributes; the official model's
# receptive radius is about 26 px, so pixels 32 px inside a tile are exact.
DEFAULT_TILE_SIZE = 512
DEFAULT_OVERLAP = 96
MODELS_ENV = "SEMDENOISE_MODELS_DIR"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# The wheel's copy of the shipped models (setup.py copies them in at build time; a checkout has none).
INSTALLED_MODELS_DIR = os.path.join(_PACKAGE_DIR, "saved_models")
# Where the project keeps them: saved_models/ at the top of the checkout (also what an editable install reads).
CHECKOUT_MODELS_DIR = os.path.join(os.path.dirname(_PACKAGE_DIR), "saved_models")
_SHIPPED_PATTERN = re.compile(r"denoiser_sigma(\d+(?:\.\d+)?)\.keras$")


def models_dir() -> str:
    """Folder of the shipped models, the first of:

    1. ``$SEMDENOISE_MODELS_DIR`` where set (taken as given);
    2. ``INSTALLED_MODELS_DIR``, ``keras_semdenoise/saved_models/`` inside an installed wheel;
    3. ``CHECKOUT_MODELS_DIR``, the ``saved_models/`` beside the package in a source checkout or an
       editable install (``pip install -e .``), also the answer when none of them exists.

    The wheel's own copy comes before the checkout's because only a built install has it, whereas the
    folder beside an installed package is ``site-packages/saved_models``, a name any distribution may use.
    """
    env = os.environ.get(MODELS_ENV)
    if env:
        return env
    if os.path.isdir(INSTALLED_MODELS_DIR):
        return INSTALLED_MODELS_DIR
    return CHECKOUT_MODELS_DIR


def shipped_models(folder: str | None = None) -> dict[float, str]:
    """``{sigma_255: path}`` of the per-sigma models in ``folder`` (default ``models_dir()``)."""
    folder = folder or models_dir()
    found = {}
    for path in glob.glob(os.path.join(folder, "denoiser_sigma*.keras")):
        match = _SHIPPED_PATTERN.search(os.path.basename(path))
        if match:
            found[float(match.group(1))] = path
    return dict(sorted(found.items()))


def shipped_model_for_sigma(sigma_255: float, folder: str | None = None) -> tuple[str, str | None]:
    """Path of the shipped model for ``sigma_255`` and a notice if it is not an exact match.

    Raises:
        FileNotFoundError: no shipped model at all.
    """
    models = shipped_models(folder)
    if not models:
        raise FileNotFoundError(
            f"no shipped denoiser in {folder or models_dir()} (set {MODELS_ENV} or pass a model path)"
        )
    if sigma_255 in models:
        return models[sigma_255], None
    nearest = min(models, key=lambda s: abs(s - sigma_255))
    return models[nearest], (
        f"no model trained for sigma {sigma_255:g}; using the sigma-{nearest:g} model "
        f"(shipped: {', '.join(f'{s:g}' for s in models)})"
    )


PRECISIONS = ("auto", "bf16", "fp32")


def resolve_precision(precision: str) -> str:
    """``"auto"`` -> ``"bf16"`` where the CPU/GPU computes bf16 natively, else ``"fp32"``; others checked.

    Raises:
        ValueError: a precision that is not auto, bf16 or fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        from keras_semdenoise import precision as hardware

        return "bf16" if hardware.resolve_policy("auto") == "mixed_bfloat16" else "fp32"
    return precision


BLIND_MODEL = "denoiser_blind.keras"


def shipped_by_name(folder: str | None = None) -> dict[str, str]:
    """``{"sigma15": path, ..., "blind": path}``: the per-sigma models, then the blind one where shipped."""
    folder = folder or models_dir()
    models = {f"sigma{s:g}": p for s, p in shipped_models(folder).items()}
    blind = os.path.join(folder, BLIND_MODEL)
    if os.path.exists(blind):
        models["blind"] = blind
    return models


# How ``--sigma auto`` turns an estimated sigma into a model. The rules were measured in docs/sigma_auto
# (tools/evaluate_sigma_auto.py: CBSD68 at sigma 5..65 and the real-noise pairs Nam25 / PolyU100):
#   nearest   the per-sigma model nearest to the estimate
#   next_up   the per-sigma model of the smallest sigma >= the estimate (the largest one above all)
#   blind     the blind model, always
#   snap      an estimate below LOW_ESTIMATE -> the lowest per-sigma model; one within SNAP_SIGMA of a
#             per-sigma model -> that model; anything else -> the blind model
# "snap" came within 0.1 dB of the best model per image on every set there. Why the two thresholds: a
# per-sigma model is sharply tuned (the sigma-15 model on sigma-5 noise is 2.6 dB below the blind model),
# and the wavelet estimator reads real camera noise (true std 3.6-4.1) as 0.2-1.3, while no Gaussian-noise
# image of sigma >= 5 was estimated below 5; real camera noise is denoised best by the sigma-15 model.
AUTO_RULES = ("nearest", "next_up", "blind", "snap")
SNAP_SIGMA = 3.0
LOW_ESTIMATE = 3.0
AUTO_RULE = "snap"


def choose_model_for_sigma(sigma_255: float, rule: str = AUTO_RULE, folder: str | None = None) -> tuple[str, str]:
    """``(path, why)``: the shipped model ``rule`` picks for an (estimated) noise level.

    Raises:
        FileNotFoundError: no shipped model (or no blind model where the rule needs one).
        ValueError: an unknown rule.
    """
    if rule not in AUTO_RULES:
        raise ValueError(f"rule must be one of {AUTO_RULES}, got {rule!r}")
    folder = folder or models_dir()
    models = shipped_models(folder)
    blind = os.path.join(folder, BLIND_MODEL)
    if not models and not os.path.exists(blind):
        raise FileNotFoundError(f"no shipped denoiser in {folder} (set {MODELS_ENV} or pass a model path)")
    nearest = min(models, key=lambda s: abs(s - sigma_255)) if models else None
    if rule == "snap" and models and sigma_255 < LOW_ESTIMATE:
        lowest = min(models)
        return models[lowest], f"sigma-{lowest:g} model (estimate below {LOW_ESTIMATE:g}: camera noise or almost clean)"
    if rule == "blind" or (rule == "snap" and (nearest is None or abs(nearest - sigma_255) > SNAP_SIGMA)):
        if os.path.exists(blind):
            return blind, "blind model"
    if not models:
        raise FileNotFoundError(f"no per-sigma model in {folder}")
    if rule == "next_up":
        above = [s for s in models if s >= sigma_255]
        chosen = min(above) if above else max(models)
    else:
        chosen = nearest
    return models[chosen], f"sigma-{chosen:g} model"


def model_for_sigma(sigma_255: float, folder: str | None = None) -> tuple[str, str | None]:
    """``(path, notice)``: the shipped model for a noise level the user gave (``--sigma 25``).

    The per-sigma model trained for exactly that level, else the blind model, else the nearest per-sigma
    model; ``notice`` (None for an exact match) says which was used instead.

    Raises:
        FileNotFoundError: no shipped model at all.
    """
    folder = folder or models_dir()
    models = shipped_models(folder)
    if sigma_255 in models:
        return models[sigma_255], None
    blind = os.path.join(folder, BLIND_MODEL)
    if os.path.exists(blind):
        trained = ", ".join(f"{s:g}" for s in models) or "none"
        return blind, f"no model trained for sigma {sigma_255:g}; using the blind model (per-sigma models: {trained})"
    return shipped_model_for_sigma(sigma_255, folder)


def load_denoiser(path: str, precision: str = "fp32"):
    """Loads a ``.keras`` denoiser (custom layers registered by importing this package).

    ``precision="fp32"`` gives the model as saved. ``"bf16"`` gives it ready for fast inference: batch
    norm folded into the convolutions (``graph_transforms.fold_batch_norm``) and the inner layers in
    ``mixed_bfloat16`` (input, output and global skip stay float32); ``"auto"`` picks bf16 where the
    hardware has it (``resolve_precision``).
    """
    import keras

    from keras_semdenoise import denoiser  # noqa: F401 - registers the custom layers

    precision = resolve_precision(precision)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model not found: {path}")
    model = keras.saving.load_model(path, compile=False)
    if precision == "bf16":
        from keras_semdenoise import graph_transforms

        model = graph_transforms.with_dtype_policy(graph_transforms.fold_batch_norm(model), "mixed_bfloat16")
    return model


def size_multiple(model) -> int:
    """The multiple the model pads to internally (tile origins must be aligned to it).

    A ``MultiScaleDenoiser`` says so itself; a functional copy of one (``graph_transforms``) or a file
    saved before the class existed is read from its padding layer.
    """
    multiple = getattr(model, "size_multiple", None)
    if isinstance(multiple, int):
        return multiple
    for layer in model.layers:
        if hasattr(layer, "multiple"):
            return int(layer.multiple)
    return 1


def _predict(model, batch: np.ndarray) -> np.ndarray:
    return np.asarray(model(batch, training=False))


def denoise_whole(model, image: np.ndarray) -> np.ndarray:
    """Denoises an (H, W, 3) image in one call. Memory grows with H * W (~1.4 kB per pixel)."""
    return _predict(model, image[None].astype(np.float32))[0]


def _tile_starts(length: int, tile: int, stride: int, multiple: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    last = ((length - tile) // multiple) * multiple
    if last > starts[-1]:
        starts.append(last)
    return starts


def _edge_weights(length: int, start: int, end: int, total: int, overlap: int) -> np.ndarray:
    """1-D blend window of a tile covering [start, end) of ``total``: zero for the first
    overlap/3 px from an inner edge, a linear ramp over the next overlap/3, then one."""
    distance_low = np.arange(length, dtype=np.float32) + 0.5
    distance_high = distance_low[::-1]
    third = max(overlap / 3.0, 1e-6)
    weight = np.ones(length, np.float32)
    if start > 0:
        weight = np.minimum(weight, np.clip((distance_low - third) / third, 0.0, 1.0))
    if end < total:
        weight = np.minimum(weight, np.clip((distance_high - third) / third, 0.0, 1.0))
    return weight


def tile_grid(height: int, width: int, tile_size: int, overlap: int, multiple: int):
    """Yields ``(y0, y1, x0, x1)`` tiles covering the image, origins aligned to ``multiple``."""
    stride = max(tile_size - overlap, multiple)
    rows = _tile_starts(height, tile_size, stride, multiple)
    cols = _tile_starts(width, tile_size, stride, multiple)
    for y0 in rows:
        y1 = height if y0 == rows[-1] else y0 + tile_size
        for x0 in cols:
            x1 = width if x0 == cols[-1] else x0 + tile_size
            yield y0, y1, x0, x1


def denoise_tiled(
    model,
    image: np.ndarray,
    tile_size: int = DEFAULT_TILE_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    progress=None,
) -> np.ndarray:
    """Denoises a large (H, W, 3) image tile by tile with blended seams.

    Each tile is about ``tile_size`` square; neighbours overlap by at least
    ``overlap`` px and each contributes only pixels at least ``overlap / 3`` from
    its inner edges, blended linearly, so with ``overlap / 3`` above the model's
    receptive radius the result equals whole-image inference. Peak memory is the
    image, the output and one tile's activations.

    Args:
        progress: optional callable ``progress(done, total)`` after each tile.
    """
    multiple = size_multiple(model)
    if tile_size < 2 * overlap or tile_size % multiple or overlap % multiple:
        raise ValueError(
            f"tile_size ({tile_size}) must be >= 2 * overlap ({overlap}) and both multiples of {multiple}"
        )
    height, width = image.shape[:2]
    tiles = list(tile_grid(height, width, tile_size, overlap, multiple))
    output = np.zeros(image.shape, np.float32)
    weights = np.zeros((height, width, 1), np.float32)
    for index, (y0, y1, x0, x1) in enumerate(tiles):
        result = _predict(model, image[None, y0:y1, x0:x1].astype(np.float32))[0]
        wy = _edge_weights(y1 - y0, y0, y1, height, overlap)
        wx = _edge_weights(x1 - x0, x0, x1, width, overlap)
        window = (wy[:, None] * wx[None, :])[..., None]
        output[y0:y1, x0:x1] += result * window
        weights[y0:y1, x0:x1] += window
        if progress:
            progress(index + 1, len(tiles))
    return output / np.maximum(weights, 1e-12)


def denoise(model, image: np.ndarray, tile_size: int = DEFAULT_TILE_SIZE, overlap: int = DEFAULT_OVERLAP, progress=None,
            self_ensemble: bool = False):
    """Denoises an (H, W, 3) float image: in one call if it fits in a tile, else tiled.

    ``self_ensemble`` averages the results over the 8 flips/rotations of the input (8x the time;
    a test-time option, reported separately from the plain model).
    """
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    if self_ensemble:
        outputs = []
        for flip in (False, True):
            for rotations in range(4):
                view = np.rot90(image[:, ::-1] if flip else image, rotations)
                result = np.rot90(denoise(model, np.ascontiguousarray(view), tile_size, overlap), -rotations)
                outputs.append(result[:, ::-1] if flip else result)
        return np.mean(outputs, axis=0)
    height, width = image.shape[:2]
    if height <= tile_size + overlap and width <= tile_size + overlap:
        return denoise_whole(model, image)
    return denoise_tiled(model, image, tile_size, overlap, progress)
