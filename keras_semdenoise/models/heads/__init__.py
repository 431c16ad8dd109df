"""Frozen high-level heads: VGG16 classifier and DeepLab-LargeFOV segmenter, [0, 1] RGB in.

Building and loading live here (``build_head``, ``load_head``); training a head on clean data is
``training.head_training`` (``HeadConfig``, ``run_head_training``).
"""

from keras_semdenoise.models.heads.deeplab import build_deeplab_largefov
from keras_semdenoise.models.heads.factory import build_head, load_head
from keras_semdenoise.models.heads.vgg16 import PERCEPTUAL_LAYER, VGG16Trunk, build_vgg16_classifier, feature_extractor

__all__ = [
    "PERCEPTUAL_LAYER",
    "VGG16Trunk",
    "build_deeplab_largefov",
    "build_head",
    "build_vgg16_classifier",
    "feature_extractor",
    "load_head",
]
