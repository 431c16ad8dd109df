"""The head a training config describes, and a saved head loaded back."""

from __future__ import annotations

import os

import keras

from keras_semdenoise import tasks
from keras_semdenoise.heads.deeplab import build_deeplab_largefov
from keras_semdenoise.heads.vgg16 import build_vgg16_classifier


def build_head(config, num_classes: int) -> keras.Model:
    """The head ``config`` (a ``heads.training.HeadConfig``, where every default is written) describes.

    Classification: a VGG16 classifier of input ``(crop_size, crop_size, 3)``; segmentation:
    DeepLab-LargeFOV of any input size. Both take [0, 1] RGB and return logits.
    """
    if tasks.check_task(config.task) == tasks.CLASSIFICATION.name:
        if config.crop_size is None:
            raise ValueError("classification heads need a fixed crop_size")
        return build_vgg16_classifier(num_classes, config.weights, (config.crop_size, config.crop_size, 3),
                                      config.width_divisor, config.top, config.hidden_units,
                                      batch_norm=config.batch_norm)
    return build_deeplab_largefov(num_classes, config.weights, (None, None, 3), config.width_divisor,
                                  config.fc_units, batch_norm=config.batch_norm)


def load_head(path: str) -> keras.Model:
    """Loads a ``.keras`` head (its custom layers are registered by importing ``heads``), uncompiled."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"head model not found: {path} (train one with train/train_head.py)")
    return keras.saving.load_model(path, compile=False)
