"""DeepLab-LargeFOV (Chen et al., ICLR 2015) on the VGG16 backbone, as used by the paper.

VGG16 conv1..conv5 with pool1-3 3x3 stride 2, pool4 and pool5 3x3 stride 1, conv5 dilated by 2,
fc6 3x3 dilated by 12 (1024), fc7 1x1 (1024), fc8 1x1 (classes), dropout 0.5; output stride 8,
logits upsampled bilinearly to the input size. The void label is ignored by the loss and mIoU
(``keras_semdenoise.training.losses`` / ``metrics``), not here.

``input_scale`` (``InputScale``) resizes the image before the trunk and the logits come back at the
input's size: a head run at 1.5x sees thin objects (poles, signs) on a finer output grid, at 1.5^2 the
cost. ``with_input_scale`` sets it on a trained head (same weights), so the scale can be chosen on a
validation split after training (``experiments/probes/choose_head_scale.py``).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from keras_semdenoise.models.heads.vgg16 import VGG16Trunk
from keras_semdenoise.models.padding import CropLike

OUTPUT_STRIDE = 8
INPUT_SCALE_LAYER = "input_scale"


def check_input_scale(scale: float) -> float:
    """``scale`` as a float if it is a finite number > 0, else ValueError."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"input_scale must be a finite number > 0, got {scale!r}")
    return float(scale)


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class InputScale(layers.Layer):
    """Bilinear resize of images (N, H, W, C) by ``scale``: (N, round(scale H), round(scale W), C);
    antialiased when shrinking. Any H, W (dynamic shapes included)."""

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_input_scale(scale)

    def _size(self, height, width):
        if isinstance(height, int) and isinstance(width, int):
            return max(int(round(self.scale * height)), 1), max(int(round(self.scale * width)), 1)
        return tuple(
            ops.maximum(ops.cast(ops.round(ops.cast(side, "float32") * self.scale), "int32"), 1)
            for side in (height, width)
        )

    def call(self, images):
        if self.scale == 1.0:
            return images
        shape = ops.shape(images)
        return ops.image.resize(
            images, self._size(shape[1], shape[2]), interpolation="bilinear", antialias=self.scale < 1.0
        )

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            return (input_shape[0], None, None, input_shape[3])
        return (input_shape[0], *self._size(height, width), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class ResizeLike(CropLike):
    """Bilinear resize of ``x`` (N, h, w, C) to the height and width of ``reference`` (N, H, W, *): the output
    shape of ``CropLike``, reached by resizing instead of cropping."""

    def call(self, x, reference):
        shape = ops.shape(reference)
        return ops.image.resize(x, (shape[1], shape[2]), interpolation="bilinear")


def build_deeplab_largefov(
    num_classes: int = 21,
    *,
    trunk: VGG16Trunk = VGG16Trunk(),  # noqa: B008 - a frozen dataclass, shared safely
    fc_units: int = 1024,
    fc6_dilation: int = 12,
    dropout: float = 0.5,
    input_scale: float = 1.0,
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
        input_scale: the image is resized by this factor before the trunk (an ``InputScale`` layer named
            ``input_scale``; 1 = none); the logits still come back at the input's H, W.
        name: the model's name.

    Returns:
        ``keras.Model``: (N, H, W, 3) float32 in [0, 1] -> (N, H, W, num_classes) logits.
        ``block3_conv3`` is relu3_3 for the perceptual loss (at the scaled size where ``input_scale`` != 1).
    """
    check_input_scale(input_scale)
    preprocess = None if input_scale == 1 else InputScale(input_scale, name=INPUT_SCALE_LAYER)
    inputs, x = trunk.build(
        num_classes,
        (None, None, 3),
        preprocess=preprocess,
        pool_strides=(2, 2, 2, 1, 1),
        pool_size=3,
        block_dilations=(1, 1, 1, 1, 2),
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


def input_scale_of(head: keras.Model) -> float:
    """The ``input_scale`` a DeepLab head runs at (1.0 where it has no ``InputScale`` layer)."""
    layer = next((layer for layer in head.layers if isinstance(layer, InputScale)), None)
    return 1.0 if layer is None else layer.scale


def with_input_scale(head: keras.Model, scale: float) -> keras.Model:
    """A copy of the DeepLab ``head`` (same layers, names and weights) whose input is resized by ``scale``
    before the trunk, its logits still at the input's size; ``scale`` 1 removes the resize. Replaces any
    ``input_scale`` the head had: the scale is absolute, not multiplied.

    Args:
        head: a functional head built by ``build_deeplab_largefov`` (or loaded from one's ``.keras``):
            (N, H, W, 3) [0, 1] RGB -> (N, H, W, classes) logits.
        scale: a finite number > 0.

    Returns:
        ``keras.Model``, float32 like ``head``, uncompiled. ValueError for a head that does not resize its
        logits to its input (a classifier).
    """
    scale = check_input_scale(scale)
    config = head.get_config()
    entries = config["layers"]
    if not any(entry["class_name"] == "ResizeLike" for entry in entries):
        raise ValueError(
            f"{head.name}: input_scale is for segmentation heads whose logits are resized to the "
            "input (DeepLab-LargeFOV); this head has no ResizeLike layer"
        )
    inputs = config["input_layers"]
    input_name = inputs[0] if isinstance(inputs[0], str) else inputs[0][0]  # [name, 0, 0] or a list of them
    old = next((entry for entry in entries if entry["name"] == INPUT_SCALE_LAYER), None)
    if old is not None:  # consumers of the old resize read the input again
        entries.remove(old)
        _rewire(entries, INPUT_SCALE_LAYER, input_name)
    if scale != 1.0:
        first = next(entry for entry in entries if entry["name"] == "caffe_input")
        _rewire([first], input_name, INPUT_SCALE_LAYER)
        layer = InputScale(scale, name=INPUT_SCALE_LAYER, dtype=head.dtype_policy)
        entry = keras.saving.serialize_keras_object(layer)
        entry.update(
            name=INPUT_SCALE_LAYER,
            inbound_nodes=[
                {
                    "args": [
                        {
                            "class_name": "__keras_tensor__",
                            "config": {
                                "shape": [None, None, None, 3],
                                "dtype": "float32",
                                "keras_history": [input_name, 0, 0],
                            },
                        }
                    ],
                    "kwargs": {},
                }
            ],
        )
        entries.insert(entries.index(first), entry)
    model = keras.Model.from_config(config)
    model.set_weights(head.get_weights())
    return model


def _rewire(entries: list, source: str, target: str) -> None:
    """In the functional config ``entries``, every input read from layer ``source`` is read from ``target``."""

    def visit(value):
        if isinstance(value, dict):
            history = (
                value.get("config", {}).get("keras_history") if value.get("class_name") == "__keras_tensor__" else None
            )
            if history is not None and history[0] == source:
                value["config"]["keras_history"] = [target, *history[1:]]
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    for entry in entries:
        visit(entry["inbound_nodes"])
