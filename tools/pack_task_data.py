"""Pack task splits into ``<out>/<split>.npz`` so ``train/train_head.py --data packed:<out>`` can train a
head where TensorFlow is missing (the lent GPU machine runs Keras on JAX).

    python -m tools.pack_task_data --task classification --data ../shared/data/cifar10-jpeg \
        --splits train,test --out .devdata/cifar10
    python -m tools.pack_task_data --task segmentation --data ../shared/data/camvid \
        --num_classes 11 --ignore_index 11 --splits train,test --out .devdata/camvid

Files are stored byte for byte (``keras_semdenoise.data.packed``); each split is checked to decode to
the same pixels as the folder before the tool reports it.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

from keras_semdenoise import imageio
from keras_semdenoise.data import packed, task_data
from keras_semdenoise.task_kinds import TASKS

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, list(TASKS), "High-level task.", required=True)
flags.DEFINE_string("data", None, "Data folder (tasks layouts).", required=True)
flags.DEFINE_list("splits", ["train", "test"], "Splits to pack.")
flags.DEFINE_integer("num_classes", None, "Segmentation classes.")
flags.DEFINE_integer("ignore_index", None, "Segmentation void label.")
flags.DEFINE_string("out", None, "Output folder (one <split>.npz each).", required=True)
flags.DEFINE_integer("check", 64, "Images per split compared with the folder's decode after packing.")


def check_split(source: str, split: str, task: str, count: int) -> None:
    """Compares the first ``count`` packed images with the folder's own decode (same order)."""
    unpacked = packed.load_split(f"{packed.PREFIX}{FLAGS.out}", split, task)
    if task == "classification":
        paths = task_data.ordered_classification_files(source, split)[0]
    else:
        paths = [image for image, _ in task_data.ordered_segmentation_files(source, split)]
    for index in range(min(count, unpacked.size)):
        expected = np.round(imageio.load_image(paths[index]).pixels * 255.0).astype(np.uint8)
        if not np.array_equal(expected, unpacked.images[index]):
            raise RuntimeError(f"packed image {index} of {split} differs from {paths[index]}")


def main(argv):
    del argv
    from tqdm import tqdm

    try:
        for split in tqdm(FLAGS.splits, desc="splits", unit="split"):
            path = packed.split_path(f"{packed.PREFIX}{FLAGS.out}", split)
            summary = packed.pack_split(FLAGS.task, FLAGS.data, split, path, FLAGS.ignore_index, FLAGS.num_classes)
            check_split(FLAGS.data, split, FLAGS.task, FLAGS.check)
            print(f"{path}: {summary['images']} images, {summary['bytes'] / 2**20:.1f} MiB")
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None


if __name__ == "__main__":
    app.run(main)
