"""One loader of labelled task data for every trainer and evaluation: where the data is, which split, and
its batches, whatever the source.

Sources (the ``data`` setting):
- a data folder (classification class folders, CamVid or VOCdevkit segmentation) or
  ``tfds:imagenet2012``: read by ``data.tasks`` as tf.data;
- ``packed:DIR``: splits packed by ``tools/pack_task_data.py``, read by ``data.packed`` with numpy only
  (no TensorFlow needed: heads train this way on a JAX machine).

``load_split`` gives a split of either kind and ``batches`` batches it, with the same augmentation and
noise model for both. A union of splits (``train+val``) is read part by part and joined.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_semdenoise import task_kinds
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import packed, splits, task_data

DATA_HELP = "Data folder, tfds:imagenet2012, or packed:DIR (tools/pack_task_data.py; no TensorFlow needed)."


def load_split(task: str, source: str, split: str, *folder_args, **folder_options):
    """One split of ``source``: a ``packed.PackedSplit`` for ``packed:DIR``, else a ``task_kinds.TaskSplit``.

    Args:
        task: one of ``task_kinds.TASKS``; a packed split must hold that task.
        folder_args, folder_options: ``task_data.load_split``'s ``ignore_index, num_classes`` (segmentation
            void label and classes for folders that are not VOCdevkit; a packed split carries its own) and
            ``data_dir, manual_dir`` (tfds folders, ``tfds:`` sources only), by position or name.
    """
    task_kinds.check_task(task)
    parts = [split] if source.startswith("tfds:") else splits.union_parts(split)  # tfds reads unions itself
    if len(parts) > 1:
        return _joined([load_split(task, source, part, *folder_args, **folder_options) for part in parts], split)
    if packed.is_packed(source):
        return packed.load_split(source, split, task)
    return task_data.load_split(task, source, split, *folder_args, **folder_options)


def _joined(parts: list, name: str):
    """The splits of a union (``train+val``) as one, in order: the first part's images, then the next's."""
    first = parts[0]
    for part in parts[1:]:
        if (part.num_classes, part.ignore_index, part.class_names) != (
            first.num_classes,
            first.ignore_index,
            first.class_names,
        ):
            raise ValueError(f"split {name!r}: its parts differ in classes or void label")
    size = sum(part.size for part in parts)
    if isinstance(first, packed.PackedSplit):
        labels = (
            np.concatenate([part.labels for part in parts])
            if first.task == task_kinds.CLASSIFICATION.name
            else [label for part in parts for label in part.labels]
        )
        return dataclasses.replace(
            first, images=[image for part in parts for image in part.images], labels=labels, size=size
        )
    dataset = first.dataset
    for part in parts[1:]:
        dataset = dataset.concatenate(part.dataset)
    return dataclasses.replace(first, dataset=dataset, size=size)


def batches(split, batch_size: int, crop_size: int | None, training: bool, sigma_255=None, seed=None, **augment):
    """Batches of a split from ``load_split``: ``(images, labels)``, or ``((noisy, clean), labels)`` when
    ``sigma_255`` is set (training noise). Images (N, H, W, 3) float32 in [0, 1].

    Training batches repeat forever and are augmented; evaluation goes once through the split in order.
    ``seed`` seeds a packed split's shuffling, crops and noise (tf.data uses the global seed).
    ``augment``: ``scale_range`` (segmentation training frames rescaled by a random factor first) and
    ``color_jitter`` (then their colours jittered; ``task_kinds.segmentation_crop``, ``photometric``).
    """
    if isinstance(split, packed.PackedSplit):
        return packed.batches(split, batch_size, crop_size, training, seed=seed, sigma_255=sigma_255, **augment)
    return task_data.batches(split, batch_size, crop_size, training=training, sigma_255=sigma_255, **augment)


def class_pixel_counts(split) -> tuple[np.ndarray, np.ndarray]:
    """A segmentation split's label statistics, read once through its whole frames in order:
    ``(class_pixels, present_pixels)``, each (num_classes,) int64: the non-void pixels of each class, and the
    non-void pixels of the frames that hold that class (``losses.median_frequency_weights`` takes both)."""
    if split.task != task_kinds.SEGMENTATION.name:
        raise ValueError(f"class pixel counts need a segmentation split, not {split.task}")
    classes = split.num_classes
    class_pixels = np.zeros(classes, np.int64)
    present_pixels = np.zeros(classes, np.int64)
    for _, labels in batches(split, 1, None, training=False):
        for label in np.asarray(labels).reshape(np.shape(labels)[0], -1):
            label = label[label != split.ignore_index].astype(np.int64)
            if np.any(label >= classes) or np.any(label < 0):
                raise ValueError(f"labels outside 0..{classes - 1} besides the void label {split.ignore_index}")
            counts = np.bincount(label, minlength=classes)
            class_pixels += counts
            present_pixels += np.where(counts > 0, label.size, 0)
    return class_pixels, present_pixels


@dataclasses.dataclass(kw_only=True)
class TaskDataConfig:
    """The data settings every task run shares (``training.head_training.HeadConfig``, ``training.joint.JointConfig``,
    ``evaluation.tasks.TaskEvaluationConfig``): one flag per field."""

    task: str = setting(help="High-level task.", choices=task_kinds.TASKS)
    data: str = setting(help=DATA_HELP)
    num_classes: int | None = setting(None, "Segmentation classes (required for non-VOC folders).")
    ignore_index: int | None = setting(None, "Segmentation void label (required for non-VOC folders).")
    data_dir: str | None = setting(None, "tfds data_dir.")
    manual_dir: str | None = setting(None, "tfds manual_dir (ImageNet tars).")

    def load_split(self, split: str, ignore_index: int | None = None, num_classes: int | None = None):
        """``split`` of ``data`` (``load_split``); ``ignore_index`` / ``num_classes`` override the config's."""
        return load_split(
            self.task,
            self.data,
            split,
            self.ignore_index if ignore_index is None else ignore_index,
            self.num_classes if num_classes is None else num_classes,
            self.data_dir,
            self.manual_dir,
        )
