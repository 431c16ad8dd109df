"""DeepLab-LargeFOV (Chen et al., ICLR 2015) on the VGG16 backbone, as used by the paper.

VGG16 conv1..conv5 with pool1-3 3x3 stride 2, pool4 and pool5 3x3 stride 1, conv5 dilated by 2,
fc6 3x3 dilated by 12 (1024), fc7 1x1 (1024), fc8 1x1 (classes), dropout 0.5; output stride 8,
logits upsampled bilinearly to the input size. The void label is ignored by the loss and mIoU
(``keras_semdenoise.losses`` / ``metrics``), not here.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_semdenoise.heads.vgg16 import VGG16Trunk

OUTPUT_STRIDE = 8


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class ResizeLike(layers.Layer):
    """Bilinear resize of ``x`` (N, h, w, C) to the height and width of ``reference`` (N, H, W, *)."""

    def call(self, x, reference):
        shape = ops.shape(reference)
        return ops.image.resize(x, (shape[1], shape[2]), interpolation="bilinear")

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])


def build_deeplab_largefov(
    num_classes: int = 21,
    *,
    trunk: VGG16Trunk = VGG16Trunk(),
    fc_units: int = 1024,
    fc6_dilation: int = 12,
    dropout: float = 0.5,
    name: str = "deeplab_largefov",
) -> keras.Model:
    """DeepLab-LargeFOV segmenter taking [0, 1] RGB images and returning per-pixel class logits.

    Args:
        num_classes: classes including background (21 for VOC, 11 for CamVid); void is not a class.
        trunk: the VGG16 backbone (``VGG16Trunk``); its ``input_shape`` defaults to (None, None, 3)
            here (any H, W), its ``width_divisor`` divides ``fc_units`` too, and a ``.weights.h5``
            of this model as its ``weights`` loads everything, not only the backbone.
        fc_units: width of fc6 and fc7 (1024 in LargeFOV).
        fc6_dilation: dilation of the 3x3 fc6 (12 = the "large field of view").
        dropout: dropout after fc6 and fc7.
        name: the model's name.

    Returns:
        ``keras.Model``: (N, H, W, 3) float32 in [0, 1] -> (N, H, W, num_classes) logits.
        ``block3_conv3`` is relu3_3 for the perceptual loss.
    """
    inputs, x = trunk.build(
        num_classes, (None, None, 3), pool_strides=(2, 2, 2, 1, 1), pool_size=3, block_dilations=(1, 1, 1, 1, 2)
    )
    units = max(fc_units // trunk.width_divisor, 1)
    x = layers.Conv2D(units, 3, padding="same", dilation_rate=fc6_dilation, activation="relu", name="fc6")(x)
    x = layers.Dropout(dropout, name="fc6_dropout")(x)
    x = layers.Conv2D(units, 1, activation="relu", name="fc7")(x)
    x = layers.Dropout(dropout, name="fc7_dropout")(x)
    x = layers.Conv2D(num_classes, 1, name="fc8")(x)
    logits = ResizeLike(name="upsample")(x, inputs)
    model = keras.Model(inputs, logits, name=name)
    trunk.load_weights(model)
    return model
