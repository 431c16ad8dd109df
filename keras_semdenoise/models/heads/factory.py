"""The head a training config describes, and a saved head loaded back."""

from __future__ import annotations

import dataclasses
import os

import keras

from keras_semdenoise import task_kinds
from keras_semdenoise.models.heads.deeplab import build_deeplab_largefov
from keras_semdenoise.models.heads.vgg16 import VGG16Trunk, build_vgg16_classifier


def build_head(config, num_classes: int) -> keras.Model:
    """The head ``config`` (a ``training.head_training.HeadConfig``, where every default is written) describes.

    Classification: a VGG16 classifier of input ``(crop_size, crop_size, 3)``; segmentation:
    DeepLab-LargeFOV of any input size. Both take [0, 1] RGB and return logits.
    """
    trunk = VGG16Trunk(weights=config.weights, width_divisor=config.width_divisor, batch_norm=config.batch_norm)
    if task_kinds.check_task(config.task) == task_kinds.CLASSIFICATION.name:
        if config.crop_size is None:
            raise ValueError("classification heads need a fixed crop_size")
        trunk = dataclasses.replace(trunk, input_shape=(config.crop_size, config.crop_size, 3))
        return build_vgg16_classifier(num_classes, trunk=trunk, top=config.top, hidden_units=config.hidden_units)
    return build_deeplab_largefov(num_classes, trunk=trunk, fc_units=config.fc_units, input_scale=config.input_scale)


def load_head(path: str) -> keras.Model:
    """Loads a ``.keras`` head (its custom layers are registered by importing ``heads``), uncompiled."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"head model not found: {path} (train one with train/train_head.py)")
    return keras.saving.load_model(path, compile=False)
