"""The published colour Gaussian denoisers of DnCNN's and FFDNet's authors, rebuilt in Keras and filled from
their MatConvNet files at run time (``load_matconvnet_weights``); the weights are never part of the package.

* ``CDnCNNB`` (Zhang et al., "Beyond a Gaussian Denoiser", TIP 2017; ``cszn/DnCNN`` ``model/GD_Color_Blind.mat``):
  the blind colour model, trained for sigma 0..55. 20 conv layers of 3x3, 64 channels, each with a bias
  (batch norm folded into the convs), ReLU after all but the last; the last predicts the noise, which is
  subtracted from the input.
* ``FFDNetColor`` (Zhang et al., "FFDNet", TIP 2018; ``cszn/FFDNet`` ``models/FFDNet_color.mat``): the image
  is pixel-unshuffled by 2 in MatConvNet's order (``MatConvNetPixelUnshuffle``: 12 channels, 4c + k), a
  constant map holding sigma / 255 is appended (13 channels), 12 conv layers of 3x3 (96 channels, with bias,
  ReLU after all but the last) give 12 channels, shuffled back the same way: the output is the image, not
  the noise. The noise level is a constructor argument (``noise_level_255``), as for ``peers.FFDNetStyle``,
  so the model has the package's one-image interface.

Both take ``(N, H, W, 3)`` float32 images in [0, 1] plus noise, any ``H x W``, and return ``(N, H, W, 3)``
float32 estimates (unclipped). FFDNet pads odd sizes by mirroring the last row / column inside the model (as
its demo's replicated last row) and crops back.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_semdenoise.models import denoiser, padding, peers

CDNCNN_B_DEPTH = 20
CDNCNN_B_FILTERS = 64
FFDNET_COLOR_DEPTH = 12
FFDNET_COLOR_FILTERS = 96
# The authors' file names in the peers' folder (``$SEMDENOISE_DATA_DIR/peers_published``).
PUBLISHED_FILES = {"cdncnn_b": "cdncnn_b_GD_Color_Blind.mat", "ffdnet_color": "ffdnet_color.mat"}


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class MatConvNetPixelUnshuffle(peers.PixelUnshuffle):
    """Space-to-depth by ``factor`` in MatConvNet's (column-major) order: ``(N, H, W, C)`` ->
    ``(N, H/f, W/f, C*f*f)``, output channel ``c*f*f + dx*f + dy`` holds colour ``c`` at row offset ``dy`` and
    column offset ``dx``; for f = 2 channel 4c + k with k = (0,0), (1,0), (0,1), (1,1) as (row, column)."""

    def call(self, x):
        f, channels = self.factor, x.shape[-1]
        shape = ops.shape(x)
        h, w = shape[1] // f, shape[2] // f
        x = ops.reshape(x, (-1, h, f, w, f, channels))  # (n, h, dy, w, dx, c)
        x = ops.transpose(x, (0, 1, 3, 5, 4, 2))  # (n, h, w, c, dx, dy)
        return ops.reshape(x, (-1, h, w, f * f * channels))


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class MatConvNetPixelShuffle(peers.PixelShuffle):
    """Depth-to-space by ``factor``, the inverse of ``MatConvNetPixelUnshuffle``."""

    def call(self, x):
        f = self.factor
        channels = x.shape[-1] // (f * f)
        shape = ops.shape(x)
        h, w = shape[1], shape[2]
        x = ops.reshape(x, (-1, h, w, channels, f, f))  # (n, h, w, c, dx, dy)
        x = ops.transpose(x, (0, 1, 5, 2, 4, 3))  # (n, h, dy, w, dx, c)
        return ops.reshape(x, (-1, h * f, w * f, channels))


def _folded_cnn(x, depth: int, filters: int, out_channels: int):
    """``depth`` conv layers of 3x3 with bias (batch norm folded), ReLU after all but the last, float32."""
    for index in range(1, depth):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{index}")(x)
    return layers.Conv2D(out_channels, 3, padding="same", name=f"conv{depth}")(x)


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class CDnCNNB(peers._PeerModel):
    """The published blind colour DnCNN (residual: output = input - predicted noise). See the module docstring."""

    def __init__(self, depth: int = CDNCNN_B_DEPTH, filters: int = CDNCNN_B_FILTERS, name: str = "cdncnn_b", **kwargs):
        if depth < 2 or filters < 1:
            raise ValueError(f"CDnCNNB needs depth >= 2 and filters >= 1, got {depth}, {filters}")
        inputs = keras.Input(shape=(None, None, 3), name="noisy")
        residual = _folded_cnn(inputs, depth, filters, 3)
        outputs = layers.Subtract(name="subtract_noise", dtype=denoiser.FLOAT32)([inputs, residual])
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._arguments = dict(depth=int(depth), filters=int(filters))


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class FFDNetColor(peers._PeerModel):
    """The published colour FFDNet at a fixed noise level (0..255 scale). See the module docstring."""

    size_multiple = 2

    def __init__(
        self,
        noise_level_255=25.0,
        depth=FFDNET_COLOR_DEPTH,
        filters=FFDNET_COLOR_FILTERS,
        name="ffdnet_color",
        **kwargs,
    ):
        if depth < 2 or filters < 1:
            raise ValueError(f"FFDNetColor needs depth >= 2 and filters >= 1, got {depth}, {filters}")
        inputs = keras.Input(shape=(None, None, 3), name="noisy")
        x = padding.SymmetricPadToMultiple(2, name="pad")(inputs)
        x = MatConvNetPixelUnshuffle(2, name="unshuffle")(x)
        x = peers.NoiseLevelMap(noise_level_255, name="noise_map")(x)
        x = _folded_cnn(x, depth, filters, 12)
        x = MatConvNetPixelShuffle(2, name="shuffle")(x)
        outputs = padding.CropLike(name="crop")(x, inputs)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._arguments = dict(noise_level_255=float(noise_level_255), depth=int(depth), filters=int(filters))


def build_cdncnn_b() -> CDnCNNB:
    """CDnCNN-B's architecture with fresh weights (fill them with ``load_matconvnet_weights``)."""
    return CDnCNNB()


def build_ffdnet_color(noise_level_255: float = 25.0) -> FFDNetColor:
    """FFDNet colour's architecture at ``noise_level_255`` (0..255) with fresh weights."""
    return FFDNetColor(noise_level_255=noise_level_255)


def build_published_peer(name: str, noise_level_255: float = 25.0) -> keras.Model:
    """The architecture of published peer ``name`` (a key of ``PUBLISHED_FILES``); CDnCNN-B is blind and
    ignores ``noise_level_255``.

    Raises:
        ValueError: an unknown name.
    """
    if name == "cdncnn_b":
        return build_cdncnn_b()
    if name == "ffdnet_color":
        return build_ffdnet_color(noise_level_255)
    raise ValueError(f"unknown published peer {name!r}: use one of {', '.join(PUBLISHED_FILES)}")


def matconvnet_conv_weights(path: str) -> list[tuple]:
    """``[(kernel (3, 3, C_in, C_out), bias (C_out,))]`` float32 of every conv layer, in order, of a MatConvNet
    ``net`` struct saved as a MATLAB v7.3 file (HDF5, read with h5py).

    HDF5 stores MATLAB's column-major (H, W, C_in, C_out) arrays reversed, so ``transpose(3, 2, 1, 0)``.

    Raises:
        ImportError: h5py is not installed.
        ValueError: the file holds no MatConvNet ``net.layers``.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("reading the published peers' .mat files needs h5py: pip install h5py") from None
    import numpy as np

    convs = []
    with h5py.File(path, "r") as handle:
        if "net" not in handle or "layers" not in handle["net"]:
            raise ValueError(f"{path} is not a MatConvNet v7.3 file (no net.layers)")
        for reference in handle["net"]["layers"][()].ravel():
            layer = handle[reference]
            kind = "".join(map(chr, np.asarray(layer["type"]).ravel()))
            if kind != "conv":
                continue
            kernel, bias = (np.asarray(handle[r], dtype=np.float32) for r in layer["weights"][()].ravel())
            convs.append((kernel.transpose(3, 2, 1, 0), bias.ravel()))
    return convs


def load_matconvnet_weights(model: keras.Model, path: str) -> keras.Model:
    """Sets the conv layers of ``model`` (in order) to those of the MatConvNet file at ``path``; returns it.

    Raises:
        ValueError: the file's conv layers differ in number or shape from the model's.
    """
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    weights = matconvnet_conv_weights(path)
    if len(weights) != len(convs):
        raise ValueError(f"{path} has {len(weights)} conv layers, {model.name} has {len(convs)}")
    for layer, (kernel, bias) in zip(convs, weights):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise ValueError(f"{path}: kernel {kernel.shape} does not fit {layer.name}'s {tuple(layer.kernel.shape)}")
        layer.set_weights([kernel, bias])
    return model


def published_peer_from_file(name: str, path: str, noise_level_255: float = 25.0) -> keras.Model:
    """``build_published_peer(name, noise_level_255)`` filled from the authors' file at ``path``."""
    return load_matconvnet_weights(build_published_peer(name, noise_level_255), path)
