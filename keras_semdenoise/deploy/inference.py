"""Whole-image and tiled inference (the shipped models and the choice among them: ``models.shipped``).

Images here are (H, W, 3) float32 in [0, 1] (plus noise); the output is the
denoised float image, unclipped (``metrics.to_uint8`` clips and rounds at the edge).

Every entry point (the Python API, ``semdenoise denoise``, the web page, Beam, tiling, self-ensemble) runs the
model through one compiled path (``compiled_path``): batch norm folded into the convolutions, then, on the
TensorFlow backend, one ``tf.function`` traced once for every image size (its spatial dimensions are left
unknown, so a folder of mixed sizes never retraces); on other backends Keras's compiled ``predict_on_batch``.
"""

from __future__ import annotations

import dataclasses
import os
import weakref

import numpy as np

# Margin each tile keeps around the pixels it contributes; the official model's
# receptive radius is about 26 px, so pixels 32 px inside a tile are exact.
DEFAULT_TILE_SIZE = 512
DEFAULT_OVERLAP = 96
PRECISIONS = ("auto", "bf16", "fp32")
SELF_ENSEMBLE_VIEWS = 8  # the flips x rotations of ``denoise(..., self_ensemble=True)``


def resolve_precision(precision: str) -> str:
    """``"auto"`` -> ``"bf16"`` where the CPU/GPU computes bf16 natively, else ``"fp32"``; others checked.

    Raises:
        ValueError: a precision that is not auto, bf16 or fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        from keras_semdenoise.deploy import precision as hardware

        return "bf16" if hardware.resolve_policy("auto") == "mixed_bfloat16" else "fp32"
    return precision


def load_denoiser(path: str, precision: str = "fp32"):
    """Loads a ``.keras`` denoiser (custom layers registered by importing this package).

    ``precision="fp32"`` gives the model as saved. ``"bf16"`` gives it ready for fast inference: batch
    norm folded into the convolutions (``graph_transforms.fold_batch_norm``) and the inner layers in
    ``mixed_bfloat16`` (input, output and global skip stay float32); ``"auto"`` picks bf16 where the
    hardware has it (``resolve_precision``).
    """
    import keras

    from keras_semdenoise.models import denoiser  # noqa: F401 - registers the custom layers

    precision = resolve_precision(precision)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model not found: {path}")
    model = keras.saving.load_model(path, compile=False)
    if precision == "bf16":
        from keras_semdenoise.deploy import graph_transforms

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


@dataclasses.dataclass
class CompiledPath:
    """How a model runs here: ``run`` maps an (N, H, W, 3) float32 batch to the model's output (a numpy
    array); ``description`` says which path and why (``--verbose``); ``traces`` counts the graphs built."""

    run: object
    description: str
    traces: int = 0


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _folded(model):
    """``model`` with its batch norm folded (``graph_transforms.fold_batch_norm``) where it has any to fold,
    else itself (a model already folded, or one without batch norm), and a word on which."""
    from keras_semdenoise.deploy import graph_transforms

    if not graph_transforms._foldable_pairs(model):
        return model, "no batch norm to fold"
    return graph_transforms.fold_batch_norm(model), "batch norm folded"


def compiled_path(model) -> CompiledPath:
    """The one compiled inference path of ``model``, built on first use and kept while the model lives."""
    path = _COMPILED.get(model)
    if path is not None:
        return path
    import keras

    network, folding = _folded(model)
    policy = model.dtype_policy.name if hasattr(model, "dtype_policy") else "float32"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        path = CompiledPath(None, f"TensorFlow graph, one trace for every image size, {folding}, {policy}")

        def forward(batch):
            path.traces += 1  # runs only while tracing
            return network(batch, training=False)

        graph = tf.function(forward, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        path.run = lambda batch: graph(batch).numpy()
    else:
        path = CompiledPath(
            None, f"{keras.backend.backend()} predict_on_batch (compiled per size), {folding}, {policy}"
        )
        path.run = lambda batch: np.asarray(network.predict_on_batch(batch))
    _COMPILED[model] = path
    return path


def _predict(model, batch: np.ndarray) -> np.ndarray:
    return compiled_path(model).run(np.ascontiguousarray(batch, dtype=np.float32))


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


def denoise_tiled(model, image, tile_size=DEFAULT_TILE_SIZE, overlap=DEFAULT_OVERLAP, progress=None) -> np.ndarray:
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
        raise ValueError(f"tile_size ({tile_size}) must be >= 2 * overlap ({overlap}) and both multiples of {multiple}")
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


def denoise(model, image, tile_size=DEFAULT_TILE_SIZE, overlap=DEFAULT_OVERLAP, progress=None, self_ensemble=False):
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
                # One progress over the 8 views: view k's tiles count after the k views done before it.
                done_views = len(outputs)
                view_progress = (
                    None
                    if progress is None
                    else (lambda done, total, k=done_views: progress(k * total + done, SELF_ENSEMBLE_VIEWS * total))
                )
                result = np.rot90(
                    denoise(model, np.ascontiguousarray(view), tile_size, overlap, view_progress), -rotations
                )
                outputs.append(result[:, ::-1] if flip else result)
        return np.mean(outputs, axis=0)
    height, width = image.shape[:2]
    if height <= tile_size + overlap and width <= tile_size + overlap:
        return denoise_whole(model, image)
    return denoise_tiled(model, image, tile_size, overlap, progress)


def denoise_batch(
    model, images: np.ndarray, tile_size: int = DEFAULT_TILE_SIZE, overlap: int = DEFAULT_OVERLAP
) -> np.ndarray:
    """Denoises an (N, H, W, 3) batch of same-size float images: what ``denoise`` gives each image, in one
    model call when the images fit in a tile (about ten times faster than one call per image for CIFAR-sized
    images on a CPU), else image by image (tiled)."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected an (N, H, W, 3) RGB batch, got shape {images.shape}")
    if max(images.shape[1:3]) <= tile_size + overlap:
        return _predict(model, images)
    return np.stack([denoise(model, image, tile_size, overlap) for image in images])
