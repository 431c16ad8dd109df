"""Joint training: the denoiser through a frozen head, L = L_D + lambda_P L_P + lambda_H L_H.

    python -m train.train_joint --task classification --data ../shared/data/cifar10-jpeg \
        --head runs/head_cifar/head.keras --denoiser_init saved_models/denoiser_sigma25.keras \
        --sigma 25 --crop_size 32 --model_dir runs/joint_cls_s25
    # Paper scale: --data tfds:imagenet2012 --manual_dir DIR --head vgg16_imagenet.keras
    #   --crop_size 224 --batch_size 10 --learning_rate 1e-5 --steps 180000 (cls);
    #   --task segmentation --data VOCdevkit/VOC2012 --crop_size 321 --batch_size 6 (seg)
"""

from __future__ import annotations

import logging

from absl import app, flags

from keras_semdenoise import task_training
from train.flag_config import config_from_flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, ["classification", "segmentation"], "High-level task.", required=True)
flags.DEFINE_string("data", None, "Data folder, or tfds:imagenet2012.", required=True)
flags.DEFINE_string("model_dir", None, "Run folder; the denoiser is written as denoiser.keras.", required=True)
flags.DEFINE_string("head", None, "Frozen head (.keras from train_head.py).", required=True)
flags.DEFINE_string("denoiser_init", None, "Start from this .keras denoiser (separate training).")
flags.DEFINE_float("sigma", 25.0, "Noise level on the 0..255 scale.")
flags.DEFINE_float("lambda_p", None, "Perceptual weight (default: paper, 0.5).")
flags.DEFINE_float("lambda_h", None, "Task weight (default: paper, 0.25 cls / 0.5 seg).")
flags.DEFINE_integer("num_classes", None, "Segmentation classes (required for non-VOC folders).")
flags.DEFINE_integer("ignore_index", None, "Segmentation void label (required for non-VOC folders).")
flags.DEFINE_integer("crop_size", 224, "Training crop.")
flags.DEFINE_integer("batch_size", 10, "Global batch size.")
flags.DEFINE_integer("steps", 1000, "Training steps.")
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate.")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between resumable checkpoints.")
flags.DEFINE_string("train_split", "train", "Training split.")
flags.DEFINE_enum("strategy", "auto", ["auto", "mirrored", "default"], "tf.distribute strategy.")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into N logical devices.")
flags.DEFINE_string("data_dir", None, "tfds data_dir.")
flags.DEFINE_string("manual_dir", None, "tfds manual_dir (ImageNet tars).")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity.")


def main(argv):
    del argv
    logging.getLogger().setLevel(logging.INFO)
    try:
        task_training.run_joint_training(config_from_flags(task_training.JointConfig, FLAGS))
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None


if __name__ == "__main__":
    app.run(main)
