"""Train a high-level head (VGG16 classifier or DeepLab-LargeFOV) on clean images.

    # CIFAR-10, reduced-width VGG16 pattern:
    python -m train.train_head --task classification --data ../shared/data/cifar10-jpeg \
        --crop_size 32 --width_divisor 4 --model_dir runs/head_cifar
    # CamVid, DeepLab-LargeFOV pattern:
    python -m train.train_head --task segmentation --data ../shared/data/camvid --num_classes 11 \
        --ignore_index 11 --crop_size 160 --width_divisor 4 --eval_split val --model_dir runs/head_camvid
    # Paper scale: --data tfds:imagenet2012 --manual_dir DIR --weights imagenet (or a VGG16 .h5)
"""

from __future__ import annotations

import logging

from absl import app, flags

from keras_semdenoise import task_training
from train.flag_config import config_from_flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, ["classification", "segmentation"], "High-level task.", required=True)
flags.DEFINE_string("data", None, "Data folder, tfds:imagenet2012, or packed:DIR (tools/pack_task_data.py; no TensorFlow needed).", required=True)
flags.DEFINE_string("model_dir", None, "Run folder; the head is written as head.keras.", required=True)
flags.DEFINE_integer("num_classes", None, "Segmentation classes (required for non-VOC folders).")
flags.DEFINE_integer("ignore_index", None, "Segmentation void label (required for non-VOC folders).")
flags.DEFINE_string("weights", None, "Backbone init: imagenet or a VGG16 .h5 path (default: random).")
flags.DEFINE_integer("width_divisor", 1, "Divide VGG16 widths by this (1 = paper).")
flags.DEFINE_enum("top", "gap", ["gap", "fc"], "Classifier top: gap (any size) or fc (VGG16's).")
flags.DEFINE_integer("hidden_units", 512, "Classifier hidden dense width.")
flags.DEFINE_integer("fc_units", 1024, "DeepLab fc6/fc7 width.")
flags.DEFINE_bool("batch_norm", False, "Batch norm between each backbone conv and its ReLU (from-scratch heads).")
flags.DEFINE_integer("crop_size", 224, "Training crop (classification: also the input size).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("steps", 1000, "Training steps.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak Adam learning rate (cosine decay).")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between resumable checkpoints.")
flags.DEFINE_string("train_split", "train", "Training split.")
flags.DEFINE_string("eval_split", "test", "Split for the clean accuracy / mIoU at the end ('' for none).")
flags.DEFINE_integer("eval_batches", 20, "Batches evaluated (0: all).")
flags.DEFINE_string("data_dir", None, "tfds data_dir.")
flags.DEFINE_string("manual_dir", None, "tfds manual_dir (ImageNet tars).")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity.")


def main(argv):
    del argv
    logging.getLogger().setLevel(logging.INFO)
    try:
        config = config_from_flags(task_training.HeadConfig, FLAGS, eval_split=FLAGS.eval_split or None)
        task_training.run_head_training(config)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None


if __name__ == "__main__":
    app.run(main)
