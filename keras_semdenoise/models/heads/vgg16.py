"""VGG16 heads: the ImageNet classifier, reduced-width variants for small data sets, and the
shared pieces every VGG16-based head uses (input convention, conv trunk, weight loading).

Input convention: our images are float32 RGB in [0, 1]. Keras/Caffe VGG16 weights expect BGR,
0..255, minus the ImageNet channel means. ``CaffeInput`` does that conversion inside the model,
so every head takes [0, 1] RGB like the denoiser's output and the conversion lives in one place.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import keras
from keras import layers, ops

# ImageNet channel means in BGR order, on the 0..255 scale (Keras `imagenet_utils`, caffe mode).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
PERCEPTUAL_LAYER = "block3_conv3"  # relu3_3: Keras fuses the ReLU into the conv layer
WEIGHT_SOURCES = "None, 'imagenet', or a path to a .h5 / .weights.h5 file"


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class CaffeInput(layers.Layer):
    """[0, 1] RGB (N, H, W, 3) -> caffe-style BGR, 0..255, ImageNet-mean-subtracted (N, H, W, 3)."""

    def call(self, images):
        bgr = ops.flip(images, axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=bgr.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def check_weights_argument(weights, batch_norm: bool = False) -> None:
    if batch_norm and (weights == "imagenet" or (isinstance(weights, str) and not weights.endswith(".weights.h5"))):
        raise ValueError(
            "VGG16's pretrained weights have no batch norm: use batch_norm=False with them, "
            "or a .weights.h5 of a batch-norm head"
        )
    if weights is None or weights == "imagenet":
        return
    if not isinstance(weights, str) or not os.path.exists(weights):
        raise ValueError(f"weights must be {WEIGHT_SOURCES}; got {weights!r} (file not found?)")


def scaled_blocks(width_divisor: int) -> tuple[tuple[int, ...], ...]:
    """VGG16 block widths divided by ``width_divisor`` (1 = the real VGG16)."""
    if width_divisor < 1 or 64 % width_divisor:
        raise ValueError(f"width_divisor must divide 64 (1, 2, 4, 8, ...), got {width_divisor}")
    return tuple(tuple(w // width_divisor for w in block) for block in VGG16_BLOCKS)


def vgg16_trunk(
    x,
    blocks: Sequence[Sequence[int]] = VGG16_BLOCKS,
    pool_strides: Sequence[int] = (2, 2, 2, 2, 2),
    pool_size: int = 2,
    block_dilations: Sequence[int] = (1, 1, 1, 1, 1),
    pool_last: bool = True,
    batch_norm: bool = False,
):
    """VGG16 conv1..conv5 on a caffe-preprocessed tensor, with Keras' layer names (block{i}_conv{j}).

    ``pool_strides`` / ``pool_size`` / ``block_dilations`` give the DeepLab variants (stride-1 pools,
    dilated conv5). ``batch_norm`` puts batch normalisation between each conv and its ReLU (for heads
    trained from scratch; VGG16's pretrained weights have none). Returns the last tensor.
    """
    for index, (widths, stride, dilation) in enumerate(zip(blocks, pool_strides, block_dilations), start=1):
        for conv_index, width in enumerate(widths, start=1):
            name = f"block{index}_conv{conv_index}"
            if not batch_norm:
                x = layers.Conv2D(width, 3, padding="same", activation="relu", dilation_rate=dilation, name=name)(x)
                continue
            # conv -> BN -> ReLU; the ReLU keeps the VGG16 name so block3_conv3 is still relu3_3.
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, dilation_rate=dilation, name=f"{name}_linear")(
                x
            )
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = layers.ReLU(name=name)(x)
        if index < len(blocks) or pool_last:
            x = layers.MaxPooling2D(pool_size, strides=stride, padding="same", name=f"block{index}_pool")(x)
    return x


def load_vgg16_weights(model: keras.Model, weights, include_top: bool = False) -> None:
    """Copies VGG16 weights ('imagenet' via keras.applications, or a file) into ``model`` by layer name.

    A file may be a Keras VGG16 ``.h5`` (as downloaded by keras.applications, loaded through
    ``keras.applications.VGG16(weights=path)``) or a ``.weights.h5`` of a model with the same
    layer names. Layers of ``model`` without a VGG16 counterpart (new tops) keep their init.
    """
    if weights is None:
        return
    check_weights_argument(weights)
    if isinstance(weights, str) and weights.endswith(".weights.h5"):
        model.load_weights(weights)
        return
    source = keras.applications.VGG16(include_top=include_top, weights=weights)
    copied = 0
    for layer in source.layers:
        if not layer.weights:
            continue
        try:
            target = model.get_layer(layer.name)
        except ValueError:
            continue
        target.set_weights(layer.get_weights())
        copied += 1
    if copied == 0:
        raise ValueError(f"no VGG16 layer of {weights!r} matches a layer of {model.name}")


@dataclasses.dataclass(frozen=True)
class VGG16Trunk:
    """The VGG16 conv trunk (conv1..conv5) a head is built on: its input, width, normalisation and weights.

    Attributes:
        weights: None (random), 'imagenet' (Keras' VGG16 weights; needs them in the Keras cache
            since nothing is downloaded here), a path to a VGG16 ``.h5`` (the trunk only) or a
            ``.weights.h5`` of the whole head (everything).
        input_shape: (H, W, 3) of the head's [0, 1] RGB input; None means the head's default.
        width_divisor: divides every conv width (1 = VGG16; 4 or 8 for CIFAR-scale heads); must divide 64.
        batch_norm: conv -> batch norm -> ReLU in the trunk (for training from scratch; not with
            VGG16's pretrained weights).
    """

    weights: str | None = None
    input_shape: tuple | None = None
    width_divisor: int = 1
    batch_norm: bool = False

    def build(self, num_classes: int, default_input_shape: tuple, *, preprocess=None, **layout):
        """The start every VGG16-based head shares: its arguments checked, the [0, 1] RGB input
        ``images`` (N, H, W, 3), optionally ``preprocess`` (a layer applied to the images first, e.g.
        DeepLab's ``InputScale``), the caffe conversion and conv1..conv5 (``layout``: the pooling and
        dilation keywords of ``vgg16_trunk``). Returns ``(inputs, last trunk tensor)``."""
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        check_weights_argument(self.weights, self.batch_norm)
        blocks = scaled_blocks(self.width_divisor)
        inputs = keras.Input(shape=default_input_shape if self.input_shape is None else self.input_shape, name="images")
        caffe = CaffeInput(name="caffe_input")(inputs if preprocess is None else preprocess(inputs))
        return inputs, vgg16_trunk(caffe, blocks, batch_norm=self.batch_norm, **layout)

    def load_weights(self, head: keras.Model, include_top: bool = False) -> None:
        """Loads ``weights`` into the built ``head`` (``load_vgg16_weights``); None leaves its init."""
        load_vgg16_weights(head, self.weights, include_top)


def build_vgg16_classifier(
    num_classes: int = 1000,
    *,
    trunk: VGG16Trunk = VGG16Trunk(),
    top: str = "fc",
    hidden_units: int = 4096,
    dropout: float = 0.5,
    name: str = "vgg16_classifier",
) -> keras.Model:
    """VGG16 image classifier taking [0, 1] RGB images and returning class logits.

    Args:
        num_classes: classes of the new top (1000 with ``weights="imagenet"`` keeps the ImageNet top).
        trunk: the VGG16 trunk (``VGG16Trunk``); its ``input_shape`` defaults to (224, 224, 3) here,
            and the 'fc' top needs fixed H, W (224 for ImageNet).
        top: 'fc' (flatten, two dense layers, as VGG16) or 'gap' (global average pooling, one
            hidden dense layer; any input size).
        hidden_units: width of the dense layers.
        dropout: dropout rate between dense layers.
        name: the model's name.

    Returns:
        ``keras.Model``: (N, H, W, 3) float32 in [0, 1] -> (N, num_classes) logits. The layer
        ``block3_conv3`` is relu3_3, used by the perceptual loss.
    """
    if top not in ("fc", "gap"):
        raise ValueError(f"top must be 'fc' or 'gap', got {top!r}")
    inputs, x = trunk.build(num_classes, (224, 224, 3))
    if top == "fc":
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(hidden_units, activation="relu", name="fc1")(x)
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
        x = layers.Dense(hidden_units, activation="relu", name="fc2")(x)
        x = layers.Dropout(dropout, name="fc2_dropout")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
        x = layers.Dropout(dropout, name="hidden_dropout")(x)
    logits = layers.Dense(num_classes, name="predictions")(x)
    model = keras.Model(inputs, logits, name=name)
    keep_imagenet_top = trunk.weights == "imagenet" and num_classes == 1000 and top == "fc" and trunk.width_divisor == 1
    trunk.load_weights(model, include_top=keep_imagenet_top)
    return model


def feature_extractor(head: keras.Model, layer_name: str = PERCEPTUAL_LAYER) -> keras.Model:
    """A model sharing ``head``'s layers: [0, 1] RGB images -> the ``layer_name`` activations."""
    return keras.Model(head.input, head.get_layer(layer_name).output, name=f"{head.name}_{layer_name}")
