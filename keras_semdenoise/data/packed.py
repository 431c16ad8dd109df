"""Task splits packed into one ``.npz`` of the original file bytes, read without TensorFlow.

Why: a machine with a GPU but no TensorFlow (the JAX/PyTorch accelerator this project is lent) can
still train a head with ``train/train_head.py`` under ``KERAS_BACKEND=jax``: ``--data packed:DIR``
reads ``DIR/<split>.npz`` made here by ``tools/pack_task_data.py`` from a data folder.

A packed split holds every image (and label map) file byte for byte, in the split's fixed order
(``task_data.load_split``'s), minus the prefix all files share (for CIFAR-10's JPEGs that is the 623-byte
header with the quantisation and Huffman tables: 50,000 files shrink from 45 MB to 14 MB). Decoding is
the same Pillow decode as ``tasks`` (``imageio.load_image``), so the pixels are identical.

Batches (``batches``) follow ``task_data.batches``'s augmentation for the cases packed splits support:
classification images already at the crop size (CIFAR: reflect-pad by size/8, random crop, random
flip; evaluation: the image itself) and segmentation (optional rescale and colour jitter, random crop
padded with void, random flip; evaluation: whole images, or the top-left crop).
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np

from keras_semdenoise import noise
from keras_semdenoise.data import photometric, splits
from keras_semdenoise.task_kinds import check_task

PREFIX = "packed:"


def is_packed(source: str) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def split_path(source: str, split: str) -> str:
    """``packed:DIR`` and a split name -> ``DIR/<split>.npz`` (a sliced name's whole split: ``data.splits``)."""
    return os.path.join(source[len(PREFIX) :], f"{splits.base_name(split)}.npz")


def _common_prefix(blobs: list[bytes]) -> bytes:
    prefix = blobs[0]
    for blob in blobs[1:]:
        limit = min(len(prefix), len(blob))
        index = 0
        while index < limit and prefix[index] == blob[index]:
            index += 1
        prefix = prefix[:index]
        if not prefix:
            break
    return prefix[:-1] if prefix == blobs[0] else prefix  # keep each body non-empty


def _pack_files(paths: list[str], name: str) -> dict:
    blobs = []
    for path in paths:
        with open(path, "rb") as handle:
            blobs.append(handle.read())
    prefix = _common_prefix(blobs)
    bodies = [blob[len(prefix) :] for blob in blobs]
    offsets = np.cumsum([0] + [len(b) for b in bodies]).astype(np.int64)
    return {
        f"{name}_prefix": np.frombuffer(prefix, np.uint8),
        f"{name}_offsets": offsets,
        f"{name}_bytes": np.frombuffer(b"".join(bodies), np.uint8),
    }


def _unpack_files(arrays, name: str, indices=None) -> list[bytes]:
    """The files packed under ``name``, or those at ``indices`` (in that order)."""
    prefix = arrays[f"{name}_prefix"].tobytes()
    offsets, data = arrays[f"{name}_offsets"], arrays[f"{name}_bytes"]
    indices = range(len(offsets) - 1) if indices is None else indices
    return [prefix + data[offsets[i] : offsets[i + 1]].tobytes() for i in indices]


def pack_split(
    task: str, source: str, split: str, out_path: str, ignore_index: int | None = None, num_classes: int | None = None
) -> dict:
    """Packs one split of a data folder (``tasks`` layouts) into ``out_path``; returns its summary."""
    from keras_semdenoise import atomic
    from keras_semdenoise.data import task_data

    if check_task(task) == "classification":
        paths, labels, classes = task_data.ordered_classification_files(source, split)
        names = [os.path.basename(p) for p in paths]
        arrays = _pack_files(paths, "image")
        arrays["labels"] = labels
        meta = {"num_classes": len(classes), "ignore_index": -1, "class_names": np.asarray(classes)}
    else:
        if num_classes is None or ignore_index is None:
            raise ValueError("give num_classes and ignore_index for a segmentation split (CamVid: 11 and 11)")
        pairs = task_data.ordered_segmentation_files(source, split)
        names = [os.path.basename(p) for p, _ in pairs]
        arrays = {**_pack_files([p for p, _ in pairs], "image"), **_pack_files([q for _, q in pairs], "label")}
        meta = {"num_classes": num_classes, "ignore_index": ignore_index, "class_names": np.asarray([], str)}
    arrays["names"] = np.asarray(names)  # the file names, for split names that filter by them (data.splits)
    buffer = io.BytesIO()
    np.savez(buffer, task=np.asarray(task), **meta, **arrays)
    atomic.write_bytes(out_path, buffer.getvalue())
    return {
        "task": task,
        "split": split,
        "images": len(arrays["image_offsets"]) - 1,
        "bytes": os.path.getsize(out_path),
    }


@dataclasses.dataclass
class PackedSplit:
    """A decoded packed split: uint8 RGB images (list of (H, W, 3)) and labels, in the split's order."""

    task: str
    images: list
    labels: object  # (N,) int32 for classification; list of (H, W) int32 maps for segmentation
    num_classes: int
    size: int
    ignore_index: int | None = None
    class_names: tuple[str, ...] = ()


def _decode(blob: bytes, rgb: bool) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as image:
        if rgb:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
        return np.asarray(image, dtype=np.int32)


def load_split(source: str, split: str, task: str | None = None) -> PackedSplit:
    """Reads ``packed:DIR``'s ``<split>.npz``; ``task`` (if given) must match the packed one.

    ``split`` may be sliced (``train[-5000:]``) or filtered by file name (``train{!0006R0}``, ``data.splits``):
    taken from the packed order, which is the folder's fixed order, so it holds the same images as the folder's
    split of that name.
    """
    path = split_path(source, split)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no packed {split} split at {path} (make it with tools/pack_task_data.py)")
    with np.load(path) as arrays:
        packed_task = str(arrays["task"])
        if task is not None and task != packed_task:
            raise ValueError(f"{path} holds a {packed_task} split, not {task}")
        positions = np.arange(len(arrays["image_offsets"]) - 1)
        if splits.name_filter(split) is not None:
            if "names" not in arrays:
                raise ValueError(
                    f"{path} was packed without its file names, which split {split!r} filters by: "
                    "pack it again with tools/pack_task_data.py"
                )
            positions = positions[splits.kept(split, [str(name) for name in arrays["names"]])]
        chosen = positions[np.asarray(splits.indices(split, len(positions)), dtype=np.int64)]
        images = [_decode(b, rgb=True) for b in _unpack_files(arrays, "image", chosen)]
        if packed_task == "classification":
            labels = arrays["labels"].astype(np.int32)[chosen]
        else:
            labels = [_decode(b, rgb=False) for b in _unpack_files(arrays, "label", chosen)]
        ignore = int(arrays["ignore_index"])
        return PackedSplit(
            packed_task,
            images,
            labels,
            int(arrays["num_classes"]),
            len(images),
            None if ignore < 0 else ignore,
            tuple(str(c) for c in arrays["class_names"]),
        )


def _classification_batch(images: list, size: int, training: bool, rng) -> np.ndarray:
    stack = np.stack(images)
    if stack.shape[1:3] != (size, size):
        raise ValueError(
            f"packed classification images must already be {size}x{size} (got {stack.shape[1:3]}): "
            "use the data folder for resizing"
        )
    if not training:
        return stack
    margin = size // 8
    padded = np.pad(stack, [(0, 0), (margin, margin), (margin, margin), (0, 0)], mode="reflect")
    count = len(stack)
    top = rng.integers(0, 2 * margin + 1, count)
    left = rng.integers(0, 2 * margin + 1, count)
    rows = (top[:, None] + np.arange(size))[:, :, None]
    cols = (left[:, None] + np.arange(size))[:, None, :]
    crops = padded[np.arange(count)[:, None, None], rows, cols]
    flip = rng.random(count) < 0.5
    crops[flip] = crops[flip, :, ::-1]
    return crops


def _rescaled(image, label, scale_range: tuple[float, float], rng):
    """Image (bilinear, antialiased) and label (nearest) resized by a factor drawn from ``scale_range``, as
    ``task_data.segmentation_crop`` does."""
    from PIL import Image

    factor = rng.uniform(*scale_range)
    size = (max(round(image.shape[1] * factor), 1), max(round(image.shape[0] * factor), 1))  # PIL: (w, h)
    image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    return image, np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))


def _segmentation_example(
    image,
    label,
    size: int | None,
    ignore_index: int,
    training: bool,
    rng,
    scale_range: tuple[float, float] | None = None,
    color_jitter: float | None = None,
):
    if training and scale_range:
        image, label = _rescaled(image, label, scale_range, rng)
    if training and color_jitter:  # on [0, 1] as in tf.data, back to the 0..255 scale (float, unrounded)
        image = photometric.jitter_np(image / 255.0, color_jitter, rng) * np.float32(255.0)
    if size is None:
        return image, label
    pad_h, pad_w = max(size - image.shape[0], 0), max(size - image.shape[1], 0)
    image = np.pad(image, [(0, pad_h), (0, pad_w), (0, 0)])
    label = np.pad(label, [(0, pad_h), (0, pad_w)], constant_values=ignore_index)
    if not training:
        return image[:size, :size], label[:size, :size]
    top = rng.integers(0, image.shape[0] - size + 1)
    left = rng.integers(0, image.shape[1] - size + 1)
    image, label = image[top : top + size, left : left + size], label[top : top + size, left : left + size]
    if rng.random() < 0.5:
        image, label = image[:, ::-1], label[:, ::-1]
    return image, label


def batches(
    split: PackedSplit, batch_size, crop_size, training, seed=None, sigma_255=None, scale_range=None, color_jitter=None
):
    """Like ``task_data.batches``: yields ``(images (N, H, W, 3) float32 in [0, 1], labels)``, or
    ``((noisy, clean), labels)`` with training noise (``noise.add_gaussian_noise_np``) when ``sigma_255`` is set.

    Training batches come forever from fresh shuffles of the split (full batches only); evaluation
    goes once through the split in order (the last batch may be short).
    """
    from keras_semdenoise.data.task_data import check_scale_range

    scale_range = check_scale_range(scale_range, split.task)
    color_jitter = photometric.check_strength(color_jitter, split.task)
    rng = np.random.default_rng(seed)
    if sigma_255 is not None:
        noise.check_sigma(sigma_255)

    def make(indices):
        if split.task == "classification":
            images = _classification_batch([split.images[i] for i in indices], crop_size, training, rng)
            labels = split.labels[indices]
        else:
            pairs = [
                _segmentation_example(
                    split.images[i],
                    split.labels[i],
                    crop_size,
                    split.ignore_index,
                    training,
                    rng,
                    scale_range,
                    color_jitter,
                )
                for i in indices
            ]
            images = np.stack([p[0] for p in pairs])
            labels = np.stack([p[1] for p in pairs]).astype(np.int32)
        clean = images.astype(np.float32) / 255.0
        if sigma_255 is None:
            return clean, labels
        return (noise.add_gaussian_noise_np(clean, sigma_255, rng), clean), labels

    if split.task == "classification" and crop_size is None:
        raise ValueError("classification needs a crop_size")
    if not training:
        for start in range(0, split.size, batch_size):
            yield make(np.arange(start, min(start + batch_size, split.size)))
        return
    if split.size < batch_size:
        raise ValueError(f"a training batch of {batch_size} needs at least that many images, got {split.size}")
    while True:
        order = rng.permutation(split.size)
        for start in range(0, split.size - batch_size + 1, batch_size):
            yield make(order[start : start + batch_size])
