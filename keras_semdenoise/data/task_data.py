"""Labelled data for the high-level tasks: classification and segmentation, as tf.data.

Sources (``source`` argument):
- a folder of class subfolders, ``<root>/<split>/<class>/*.jpg`` (classification; CIFAR-10 JPEG layout);
- a segmentation folder: SegNet/CamVid layout ``<root>/<split>/*.png`` + ``<root>/<split>annot/*.png``,
  or the VOCdevkit layout ``<root>/ImageSets/Segmentation/<split>.txt``, ``JPEGImages/``,
  ``SegmentationClass/`` (tfds ``voc/2012`` carries detection labels only, so VOC masks are read here);
- ``tfds:imagenet2012`` (manual_dir must hold ILSVRC2012_img_train.tar / ILSVRC2012_img_val.tar).

Examples are ``(image, label)``: image (H, W, 3) float32 RGB in [0, 1]; label int32 () for
classification, (H, W) for segmentation with ``ignore_index`` marking void.

Folder splits come in one fixed shuffled order (``ORDER_SEED``), not in file order: class folders
are listed class by class, so file order would fill training batches (and the first N images of an
evaluation) with a single class. A split name may slice that order, tfds-style (``train[:-5000]``,
``train[-5000:]``, ``train[:90%]``: ``data.splits``); ``tfds:`` sources slice with tfds itself.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from keras_semdenoise import imageio, noise
from keras_semdenoise.data import photometric, splits
from keras_semdenoise.task_kinds import check_task

IMAGENET_MANUAL_FILES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
VOC_IGNORE_INDEX = 255
ORDER_SEED = 0


def _fixed_order(count: int) -> np.ndarray:
    """The seeded permutation every folder split is read in (same on every machine and run)."""
    return np.random.RandomState(ORDER_SEED).permutation(count)


@dataclasses.dataclass
class TaskSplit:
    """One split of a task data set: its tf.data examples and what a model needs to know."""

    task: str
    dataset: object  # tf.data.Dataset of (image, label)
    num_classes: int
    size: int
    ignore_index: int | None = None
    class_names: tuple[str, ...] = ()


def _decode_rgb(path: bytes) -> np.ndarray:
    return imageio.load_image(path.decode()).pixels


def _decode_label(path: bytes) -> np.ndarray:
    with Image.open(path.decode()) as label:
        return np.asarray(label, dtype=np.int32)  # palette PNGs (VOC) give their indices


def classification_files(root: str, split: str) -> tuple[list[str], list[int], tuple[str, ...]]:
    """Image paths, labels and class names of ``<root>/<split>/<class>/*`` (classes sorted by name)."""
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no {split} split at {folder}: expected {folder}/<class name>/<images>")
    classes = tuple(sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))))
    paths, labels = [], []
    for index, name in enumerate(classes):
        files = imageio.list_image_files(os.path.join(folder, name))
        paths += files
        labels += [index] * len(files)
    if len(classes) < 2 or not paths:
        raise ValueError(f"{folder} needs at least two class subfolders holding images")
    return paths, labels, classes


def _ordered(paths: list[str], split: str) -> np.ndarray:
    """The indices into ``paths`` that ``split`` (a name ``splits.parse`` reads) selects, in the fixed order:
    the whole split's fixed order, then the images its file-name filter keeps, then its slice of those."""
    order = _fixed_order(len(paths))
    order = order[np.asarray(splits.kept(split, [os.path.basename(paths[i]) for i in order]), dtype=np.int64)]
    return order[np.asarray(splits.indices(split, len(order)), dtype=np.int64)]


def ordered_classification_files(root: str, split: str) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """``classification_files`` in the fixed order every reader uses: paths, int32 labels, class names.
    ``split`` may be sliced or filtered by file name (``train[:-5000]``, ``data.splits``)."""
    paths, labels, classes = classification_files(root, splits.base_name(split))
    order = _ordered(paths, split)
    return [paths[i] for i in order], np.asarray(labels, np.int32)[order], classes


def ordered_segmentation_files(root: str, split: str) -> list[tuple[str, str]]:
    """``segmentation_files`` in the fixed order every reader uses; ``split`` may be sliced or filtered by the
    image's file name (``train{!0006R0}``, ``data.splits``)."""
    pairs = segmentation_files(root, splits.base_name(split))
    return [pairs[i] for i in _ordered([image for image, _ in pairs], split)]


def segmentation_files(root: str, split: str) -> list[tuple[str, str]]:
    """(image, label map) path pairs of a CamVid/SegNet-style or VOCdevkit-style folder."""
    voc_list = os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt")
    if os.path.exists(voc_list):
        with open(voc_list) as handle:
            ids = [line.strip() for line in handle if line.strip()]
        return [
            (os.path.join(root, "JPEGImages", f"{i}.jpg"), os.path.join(root, "SegmentationClass", f"{i}.png"))
            for i in ids
        ]
    images, labels = os.path.join(root, split), os.path.join(root, f"{split}annot")
    if not (os.path.isdir(images) and os.path.isdir(labels)):
        raise FileNotFoundError(
            f"no {split} split in {root}: expected {images}/ and {labels}/ with label PNGs of the same names "
            f"(CamVid layout), or the VOCdevkit layout (ImageSets/Segmentation/{split}.txt)"
        )
    pairs = []
    for path in imageio.list_image_files(images):
        label = os.path.join(labels, os.path.splitext(os.path.basename(path))[0] + ".png")
        if not os.path.exists(label):
            label = os.path.join(labels, os.path.basename(path))
        if not os.path.exists(label):
            raise FileNotFoundError(f"no label map for {path} in {labels}")
        pairs.append((path, label))
    if not pairs:
        raise ValueError(f"no images in {images}")
    return pairs


def _imagenet_split(split: str, data_dir: str | None, manual_dir: str | None):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    builder = tfds.builder("imagenet2012", data_dir=data_dir)
    if not builder.is_prepared():
        missing = [f for f in IMAGENET_MANUAL_FILES if not (manual_dir and os.path.exists(os.path.join(manual_dir, f)))]
        if missing:
            raise FileNotFoundError(
                f"imagenet2012 is not prepared in {data_dir or '~/tensorflow_datasets'} and manual_dir "
                f"{manual_dir!r} lacks {', '.join(missing)}: download them from image-net.org into manual_dir"
            )
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    dataset = builder.as_dataset(split=split)
    try:
        size = builder.info.splits[split].num_examples
    except KeyError:  # split sizes unknown (e.g. under tfds.testing.mock_data)
        size = 2048
    names = tuple(builder.info.features["label"].names)
    dataset = dataset.map(
        lambda e: (tf.image.convert_image_dtype(e["image"], tf.float32), tf.cast(e["label"], tf.int32))
    )
    return TaskSplit("classification", dataset, len(names), size, None, names)


def load_split(
    task: str,
    source: str,
    split: str,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    data_dir: str | None = None,
    manual_dir: str | None = None,
) -> TaskSplit:
    """Loads one split of a task data set (see the module docstring for ``source``).

    Args:
        task: one of ``tasks.TASKS``.
        ignore_index: segmentation void label (VOCdevkit default 255; required for other folders).
        num_classes: segmentation classes (VOCdevkit default 21; required for other folders).
    """
    import tensorflow as tf

    check_task(task)
    if source.startswith("tfds:"):
        name = source[len("tfds:") :]
        if task != "classification" or name != "imagenet2012":
            raise ValueError(f"tfds source {name!r} is not supported for {task}: use tfds:imagenet2012 or a folder")
        if splits.name_filter(split) is not None:
            raise ValueError(f"split {split!r}: file-name filters are for data folders and packed data, not tfds")
        return _imagenet_split(split, data_dir, manual_dir)
    if not os.path.isdir(source):
        raise FileNotFoundError(f"data folder not found: {source}")
    if task == "classification":
        paths, labels, classes = ordered_classification_files(source, split)
        dataset = tf.data.Dataset.from_tensor_slices((paths, labels)).map(
            lambda p, y: (_numpy_image(p), y), num_parallel_calls=tf.data.AUTOTUNE
        )
        return TaskSplit("classification", dataset, len(classes), len(paths), None, classes)
    pairs = ordered_segmentation_files(source, split)
    is_voc = os.path.exists(os.path.join(source, "ImageSets", "Segmentation"))
    if is_voc:
        num_classes = num_classes or 21
        ignore_index = VOC_IGNORE_INDEX if ignore_index is None else ignore_index
    elif num_classes is None or ignore_index is None:
        raise ValueError(f"give num_classes and ignore_index (the void label) for {source} (CamVid: 11 and 11)")
    images, labels = zip(*pairs)

    def load(image_path, label_path):
        label = tf.numpy_function(_decode_label, [label_path], tf.int32, stateful=False)
        label.set_shape([None, None])
        return _numpy_image(image_path), label

    dataset = tf.data.Dataset.from_tensor_slices((list(images), list(labels))).map(
        load, num_parallel_calls=tf.data.AUTOTUNE
    )
    return TaskSplit("segmentation", dataset, num_classes, len(pairs), ignore_index)


def _numpy_image(path):
    import tensorflow as tf

    image = tf.numpy_function(_decode_rgb, [path], tf.float32, stateful=False)
    image.set_shape([None, None, 3])
    return image


def classification_crop(image, size: int, training: bool):
    """Resize the shorter side to ``size * 8/7`` (256 for 224; to ``size`` below 64 px), then a random
    (training) or central crop; below 64 px training crops come from the image reflect-padded by size/8."""
    import tensorflow as tf

    shorter = tf.cast(tf.reduce_min(tf.shape(image)[:2]), tf.float32)
    scale = (size * 8.0 / 7.0) / shorter if size >= 64 else size / shorter
    new_hw = tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * scale), tf.int32)
    new_hw = tf.maximum(new_hw, size)
    image = tf.image.resize(image, new_hw, antialias=True)
    if training:
        if size < 64:  # small images (CIFAR): the usual reflect-pad by size/8, then a random crop
            margin = size // 8
            image = tf.pad(image, [[margin, margin], [margin, margin], [0, 0]], mode="REFLECT")
        image = tf.image.random_crop(image, [size, size, 3])
        return tf.image.random_flip_left_right(image)
    return tf.image.resize_with_crop_or_pad(image, size, size)


def check_scale_range(scale_range, task: str) -> tuple[float, float] | None:
    """``scale_range`` as ``(low, high)`` with 0 < low <= high, or None (none given); raises ValueError
    otherwise, or for a task other than segmentation (the only one it augments)."""
    if not scale_range:
        return None
    if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
        raise ValueError(f"scale_range must be two factors 0 < low <= high, got {tuple(scale_range)}")
    if task != "segmentation":
        raise ValueError(f"scale_range is a segmentation augmentation, not for {task}")
    return float(scale_range[0]), float(scale_range[1])


def segmentation_crop(
    image,
    label,
    size: int | None,
    ignore_index: int,
    training: bool,
    scale_range: tuple[float, float] | None = None,
    color_jitter: float | None = None,
):
    """Random (training) crop of image and label together; smaller images are padded with void.

    ``scale_range``: training frames are first resized by a factor drawn uniformly from ``(low, high)``
    (image bilinear with antialiasing, label nearest), DeepLab's scale augmentation. ``color_jitter``:
    then their brightness, contrast and saturation are jittered by up to that fraction (``photometric``)."""
    import tensorflow as tf

    if training and scale_range:
        factor = tf.random.uniform([], scale_range[0], scale_range[1])
        new_hw = tf.maximum(tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * factor), tf.int32), 1)
        image = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
        label = tf.image.resize(label[..., None], new_hw, method="nearest")[..., 0]
    if training and color_jitter:
        image = photometric.jitter_tf(image, color_jitter)
    if size is None:
        return image, label
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    pad_h, pad_w = tf.maximum(size - height, 0), tf.maximum(size - width, 0)
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]])
    label = tf.pad(label, [[0, pad_h], [0, pad_w]], constant_values=ignore_index)
    stacked = tf.concat([image, tf.cast(label[..., None], tf.float32)], axis=-1)
    if training:
        stacked = tf.image.random_crop(stacked, [size, size, 4])
        stacked = tf.image.random_flip_left_right(stacked)
    else:
        stacked = stacked[:size, :size]
    return stacked[..., :3], tf.cast(stacked[..., 3], tf.int32)


def batches(
    split: TaskSplit,
    batch_size: int,
    crop_size: int | None,
    training: bool,
    sigma_255: float | None = None,
    repeat: bool | None = None,
    scale_range: tuple[float, float] | None = None,
    color_jitter: float | None = None,
):
    """Batched examples: ``(image, label)`` for heads, or ``((noisy, clean), label)`` when ``sigma_255`` is set.

    Classification images are cropped to ``crop_size`` (required); segmentation crops when
    ``crop_size`` is given (else whole images, batch them only if they share a size), after a random
    rescale of each training frame when ``scale_range`` is given and a colour jitter when ``color_jitter`` is
    (``segmentation_crop``).
    """
    import tensorflow as tf

    scale_range = check_scale_range(scale_range, split.task)
    color_jitter = photometric.check_strength(color_jitter, split.task)

    dataset = split.dataset
    if training:
        dataset = dataset.shuffle(min(split.size, 2048))
    if split.task == "classification":
        if crop_size is None:
            raise ValueError("classification needs a crop_size")
        dataset = dataset.map(
            lambda x, y: (classification_crop(x, crop_size, training), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    else:
        dataset = dataset.map(
            lambda x, y: segmentation_crop(x, y, crop_size, split.ignore_index, training, scale_range, color_jitter),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if repeat if repeat is not None else training:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=training)
    if sigma_255 is not None:
        noise.check_sigma(sigma_255)
        dataset = dataset.map(lambda x, y: ((noise.add_gaussian_noise_tf(x, sigma_255), x), y))
    return dataset.prefetch(tf.data.AUTOTUNE)
