"""Learned peers of the paper's Tables II/III, built in Keras and trained here like our denoiser.

* ``DnCNN`` (Zhang et al., TIP 2017): 17 conv layers of 64 channels, 3x3: conv+ReLU, 15 x (conv without
  bias + BN + ReLU), conv; the network predicts the noise and subtracts it from its input (residual
  learning). The colour per-sigma variant ("CDnCNN-S"): 3 channels in and out, about 0.56M parameters.
* ``FFDNetStyle`` (after Zhang et al., TIP 2018): the image is pixel-unshuffled by 2 (H x W x 3 ->
  H/2 x W/2 x 12), a noise-level map is concatenated (one channel holding sigma / 255), 12 conv layers of
  96 channels (conv+ReLU, 10 x (conv without bias + BN + ReLU), conv to 12), pixel-shuffled back. About
  0.85M parameters. By default it predicts the noise and subtracts it from its input (``residual=True``),
  as the reference re-implementation does (Tassano, Delon, Veit, "An Analysis and Implementation of the
  FFDNet Image Denoising Method", IPOL 2019: the network's output is the noise estimate); the TIP paper's
  network outputs the image (``residual=False``). Measured here with our sigma-25 recipe (13,000-step
  budget, batch 32 of 48x48, Adam 1e-3, bf16): the image-output network reached only 22.47 dB validation
  PSNR after 2,000 steps (the noisy input is about 20.2 dB), far too slow for this budget.
  Trained so, it fails on saturated colours (a flat red leaves more error than the noise it was given;
  Kodak24's red kodim02): see ``evaluation.flat_colours``.

  Here the noise level is a constructor argument (``noise_level_255``), not a second input, so the model
  has the same one-image interface as every other denoiser of the package (training, tiling, exports).
  Trained at one sigma, like the per-sigma rows it is compared with, the map is a constant; the real
  FFDNet is trained over a range of sigma with the true level in the map. Rebuild with another level and
  the same weights (``with_noise_level``) to try its noise-level trade-off.

Both take ``(N, H, W, 3)`` float32 images in [0, 1] plus noise, any ``H x W``, and return ``(N, H, W, 3)``
estimates (unclipped). FFDNet pads the input to even sizes inside the model (symmetric) and crops back.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# The module, not its names: registration may import this file while ``denoiser`` is still being imported.
from keras_semdenoise.models import denoiser, padding

DNCNN_DEPTH = 17
DNCNN_FILTERS = 64
FFDNET_DEPTH = 12
FFDNET_FILTERS = 96
# The papers' initialisations: DnCNN "the method in He et al. (2015)", FFDNet orthogonal.
DNCNN_INITIALIZER = "he_normal"
FFDNET_INITIALIZER = "orthogonal"


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class PixelUnshuffle(layers.Layer):
    """Space-to-depth by ``factor``: ``(N, H, W, C)`` -> ``(N, H/f, W/f, C*f*f)``; H and W multiples of f.

    Channel order ``(dy, dx, c)``, as ``tf.nn.space_to_depth``; ``PixelShuffle`` inverts it.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        f, channels = self.factor, x.shape[-1]
        shape = ops.shape(x)
        h, w = shape[1] // f, shape[2] // f
        x = ops.reshape(x, (-1, h, f, w, f, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h, w, f * f * channels))

    def compute_output_shape(self, input_shape):
        f = self.factor
        down = [None if s is None else s // f for s in input_shape[1:3]]
        return (input_shape[0], *down, input_shape[3] * f * f)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class PixelShuffle(PixelUnshuffle):
    """Depth-to-space by ``factor``: ``(N, H, W, C*f*f)`` -> ``(N, H*f, W*f, C)``; inverts ``PixelUnshuffle``."""

    def call(self, x):
        f = self.factor
        channels = x.shape[-1] // (f * f)
        shape = ops.shape(x)
        h, w = shape[1], shape[2]
        x = ops.reshape(x, (-1, h, w, f, f, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * f, w * f, channels))

    def compute_output_shape(self, input_shape):
        f = self.factor
        up = [None if s is None else s * f for s in input_shape[1:3]]
        return (input_shape[0], *up, input_shape[3] // (f * f))


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class NoiseLevelMap(layers.Layer):
    """Appends one channel filled with ``noise_level_255 / 255`` to an NHWC batch."""

    def __init__(self, noise_level_255: float, **kwargs):
        super().__init__(**kwargs)
        self.noise_level_255 = float(noise_level_255)

    def call(self, x):
        level = ops.full_like(x[..., :1], self.noise_level_255 / 255.0)
        return ops.concatenate([x, level], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], input_shape[3] + 1)

    def get_config(self):
        return {**super().get_config(), "noise_level_255": self.noise_level_255}


def _plain_cnn(x, depth: int, filters: int, out_channels: int, inner, initializer: str):
    """conv+ReLU, (depth - 2) x (conv without bias + BN + ReLU), conv to ``out_channels`` (float32); every
    kernel starts from ``initializer``."""
    conv = dict(padding="same", kernel_initializer=initializer)
    x = layers.Conv2D(filters, 3, activation="relu", name="conv1", dtype=inner, **conv)(x)
    for index in range(2, depth):
        x = layers.Conv2D(filters, 3, use_bias=False, name=f"conv{index}", dtype=inner, **conv)(x)
        x = layers.BatchNormalization(epsilon=denoiser.BN_EPSILON, name=f"bn{index}", dtype=inner)(x)
        x = layers.ReLU(name=f"relu{index}", dtype=inner)(x)
    return layers.Conv2D(out_channels, 3, name=f"conv{depth}", dtype=denoiser.FLOAT32, **conv)(x)


class _PeerModel(keras.Model):
    """A functional peer whose ``get_config`` is its constructor arguments (keras-hub's backbone pattern)."""

    size_multiple = 1

    def get_config(self):
        return {**self._arguments, "name": self.name, "trainable": self.trainable}


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class DnCNN(_PeerModel):
    """Colour DnCNN (residual: output = input - predicted noise). See the module docstring."""

    def __init__(
        self,
        depth: int = DNCNN_DEPTH,
        filters: int = DNCNN_FILTERS,
        channels: int = 3,
        dtype_policy: str | None = None,
        name: str = "dncnn",
        **kwargs,
    ):
        if depth < 3 or filters < 1:
            raise ValueError(f"DnCNN needs depth >= 3 and filters >= 1, got {depth}, {filters}")
        inputs = keras.Input(shape=(None, None, channels), name="noisy")
        residual = _plain_cnn(inputs, depth, filters, channels, dtype_policy, DNCNN_INITIALIZER)
        outputs = layers.Subtract(name="subtract_noise", dtype=denoiser.FLOAT32)([inputs, residual])
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._arguments = dict(
            depth=int(depth), filters=int(filters), channels=int(channels), dtype_policy=dtype_policy
        )


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class FFDNetStyle(_PeerModel):
    """FFDNet-style network with a fixed noise-level map. See the module docstring."""

    size_multiple = 2

    def __init__(
        self,
        noise_level_255: float = 25.0,
        depth: int = FFDNET_DEPTH,
        filters: int = FFDNET_FILTERS,
        channels: int = 3,
        residual: bool = True,
        dtype_policy: str | None = None,
        name: str = "ffdnet_style",
        **kwargs,
    ):
        if depth < 3 or filters < 1:
            raise ValueError(f"FFDNetStyle needs depth >= 3 and filters >= 1, got {depth}, {filters}")
        inputs = keras.Input(shape=(None, None, channels), name="noisy")
        x = padding.SymmetricPadToMultiple(2, name="pad", dtype=denoiser.FLOAT32)(inputs)
        x = PixelUnshuffle(2, name="unshuffle", dtype=denoiser.FLOAT32)(x)
        x = NoiseLevelMap(noise_level_255, name="noise_map", dtype=denoiser.FLOAT32)(x)
        x = _plain_cnn(x, depth, filters, 4 * channels, dtype_policy, FFDNET_INITIALIZER)
        x = PixelShuffle(2, name="shuffle", dtype=denoiser.FLOAT32)(x)
        outputs = padding.CropLike(name="crop", dtype=denoiser.FLOAT32)(x, inputs)
        if residual:
            outputs = layers.Subtract(name="subtract_noise", dtype=denoiser.FLOAT32)([inputs, outputs])
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._arguments = dict(
            noise_level_255=float(noise_level_255),
            depth=int(depth),
            filters=int(filters),
            channels=int(channels),
            residual=bool(residual),
            dtype_policy=dtype_policy,
        )


def with_noise_level(model: FFDNetStyle, noise_level_255: float) -> FFDNetStyle:
    """A copy of an ``FFDNetStyle`` model whose noise-level map holds ``noise_level_255`` (same weights)."""
    config = {**model.get_config(), "noise_level_255": float(noise_level_255)}
    config.pop("trainable", None)
    copy = FFDNetStyle(**config)
    copy.set_weights(model.get_weights())
    return copy
