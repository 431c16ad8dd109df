"""Frozen high-level heads: VGG16 classifier and DeepLab-LargeFOV segmenter, [0, 1] RGB in."""

from keras_semdenoise.heads.deeplab import build_deeplab_largefov
from keras_semdenoise.heads.vgg16 import PERCEPTUAL_LAYER, build_vgg16_classifier, feature_extractor

__all__ = ["PERCEPTUAL_LAYER", "build_deeplab_largefov", "build_vgg16_classifier", "feature_extractor"]
