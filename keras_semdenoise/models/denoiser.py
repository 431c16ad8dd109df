"""The multi-scale denoiser of Liu et al. (TIP 2020), as in the official code.

Layer table (defaults; see ``../shared/PAPER.md``), for an ``H x W`` input:

==========  ==============================================  ======  =====
layer       op                                              ch      scale
==========  ==============================================  ======  =====
conv0       conv 5x5, linear                                64      1
conv1       conv 3x3 stride 2 + BN + ReLU                   128     1/2
res1        bottleneck residual block (1x1, 3x3, 1x1)       128     1/2
conv2       conv 3x3 stride 2 + BN + ReLU                   128     1/4
res2        bottleneck residual block                       128     1/4
up2         transposed conv 4x4 stride 2, linear            32      1/2
cat2        concat [res1, up2]                              160     1/2
conv3       conv 3x3 + BN + ReLU                            256     1/2
res3        bottleneck residual block                       256     1/2
up3         transposed conv 4x4 stride 2, linear            64      1
cat3        concat [conv0, up3]                             128     1
out         conv 3x3, linear                                3       1
sum         out + input (global residual skip)              3       1
==========  ==============================================  ======  =====

The bottleneck width of every residual block and the width of every transposed
convolution is a quarter of the width of the block it reads from, which is the
rule the official table follows. The input is padded symmetrically to a multiple
of ``2 ** (num_scales - 1)`` inside the model and the output is cropped back, so
any ``H x W`` (1x1, odd, portrait) works.

Everything here is pure Keras 3 (``keras.ops``), so the model also runs and
trains with ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import keras
from keras import layers

from keras_semdenoise.models.padding import CropLike, SymmetricPadToMultiple

DEFAULT_STEM_FILTERS = 64
DEFAULT_ENCODER_FILTERS = (128, 128)
DEFAULT_DECODER_FILTERS = (256,)
BOTTLENECK_RATIO = 4
BN_EPSILON = 1e-5
# Caffe's official solver starts conv biases at 0.2.
CONV_BIAS_INIT = 0.2
# The layers that stay float32 under a mixed policy (input padding, output conv, skip, crop).
FLOAT32 = "float32"


def _conv(filters, kernel_size, name, strides=1, use_bias=True, kernel_initializer="glorot_uniform", dtype=None):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer=keras.initializers.Constant(CONV_BIAS_INIT) if use_bias else None,
        name=name,
        dtype=dtype,
    )


def _bn(name, synchronized, gamma_initializer="ones", dtype=None):
    return layers.BatchNormalization(
        epsilon=BN_EPSILON, gamma_initializer=gamma_initializer, synchronized=synchronized, name=name, dtype=dtype
    )


def _conv_bn_relu(x, filters, name, synchronized, strides=1, dtype=None):
    x = _conv(filters, 3, f"{name}_conv", strides=strides, dtype=dtype)(x)
    x = _bn(f"{name}_bn", synchronized, dtype=dtype)(x)
    return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def _residual_block(x, name, zero_init_residual, synchronized, dtype=None):
    """Bottleneck block: 1x1 (C/4) -> 3x3 (C/4) -> 1x1 (C), no biases, add input, ReLU."""
    filters = x.shape[-1]
    inner = filters // BOTTLENECK_RATIO
    y = x
    for index, (width, kernel) in enumerate(((inner, 1), (inner, 3), (filters, 1))):
        y = _conv(width, kernel, f"{name}_conv{index + 1}", use_bias=False, dtype=dtype)(y)
        last = index == 2
        gamma = "zeros" if (last and zero_init_residual) else "ones"
        y = _bn(f"{name}_bn{index + 1}", synchronized, gamma, dtype=dtype)(y)
        if not last:
            y = layers.ReLU(name=f"{name}_relu{index + 1}", dtype=dtype)(y)
    y = layers.Add(name=f"{name}_add", dtype=dtype)([x, y])
    return layers.ReLU(name=f"{name}_out", dtype=dtype)(y)


def _upsample(x, name, dtype=None):
    filters = x.shape[-1] // BOTTLENECK_RATIO
    return layers.Conv2DTranspose(
        filters,
        4,
        strides=2,
        padding="same",
        bias_initializer=keras.initializers.Constant(CONV_BIAS_INIT),
        name=name,
        dtype=dtype,
    )(x)


def _architecture(num_scales, stem_filters, encoder_filters, decoder_filters):
    """``(num_scales, encoder_filters, decoder_filters)`` with the defaults filled in, checked."""
    if encoder_filters is None:
        scales = 3 if num_scales is None else num_scales
        encoder_filters = (DEFAULT_ENCODER_FILTERS[0],) * (scales - 1)
    if decoder_filters is None:
        scales = len(encoder_filters) + 1 if num_scales is None else num_scales
        decoder_filters = (DEFAULT_DECODER_FILTERS[0],) * max(scales - 2, 0)
    encoder_filters = tuple(int(f) for f in encoder_filters)
    decoder_filters = tuple(int(f) for f in decoder_filters)
    if num_scales is None:
        num_scales = len(encoder_filters) + 1
    if not 2 <= num_scales <= 4:
        raise ValueError(f"num_scales must be 2, 3 or 4, got {num_scales}")
    if len(encoder_filters) != num_scales - 1:
        raise ValueError(f"encoder_filters needs num_scales - 1 = {num_scales - 1} widths, got {encoder_filters}")
    if len(decoder_filters) != num_scales - 2:
        raise ValueError(f"decoder_filters needs num_scales - 2 = {num_scales - 2} widths, got {decoder_filters}")
    widths = (stem_filters, *encoder_filters, *decoder_filters)
    if any(w < BOTTLENECK_RATIO for w in widths):
        raise ValueError(f"every width must be >= {BOTTLENECK_RATIO}, got {widths}")
    return int(num_scales), encoder_filters, decoder_filters


def _graph(
    num_scales,
    stem_filters,
    encoder_filters,
    decoder_filters,
    global_skip,
    zero_init_output,
    zero_init_residual,
    synchronized,
    channels,
    inner,
):
    """``(inputs, outputs)`` of the network (the layer table above); ``inner`` is the inner layers' policy."""
    inputs = keras.Input(shape=(None, None, channels), name="noisy")
    x = SymmetricPadToMultiple(2 ** (num_scales - 1), name="pad", dtype=FLOAT32)(inputs)

    stem = _conv(stem_filters, 5, "conv0", dtype=inner)(x)
    encoded = []
    y = stem
    for index, filters in enumerate(encoder_filters, start=1):
        y = _conv_bn_relu(y, filters, f"conv{index}", synchronized, strides=2, dtype=inner)
        y = _residual_block(y, f"res{index}", zero_init_residual, synchronized, dtype=inner)
        encoded.append(y)

    # Decoder: from the coarsest encoder up, fusing each finer encoder output.
    y = encoded[-1]
    level = len(encoder_filters)
    for skip, filters in zip(reversed(encoded[:-1]), decoder_filters):
        up = _upsample(y, f"up{level}", dtype=inner)
        y = layers.Concatenate(name=f"cat{level}", dtype=inner)([skip, up])
        level += 1
        y = _conv_bn_relu(y, filters, f"conv{level}", synchronized, dtype=inner)
        y = _residual_block(y, f"res{level}", zero_init_residual, synchronized, dtype=inner)
    up = _upsample(y, f"up{level}", dtype=inner)
    y = layers.Concatenate(name=f"cat{level}", dtype=inner)([stem, up])
    out_init = "zeros" if zero_init_output else "glorot_uniform"
    y = layers.Conv2D(channels, 3, padding="same", kernel_initializer=out_init, name="out", dtype=FLOAT32)(y)
    if global_skip:
        y = layers.Add(name="sum", dtype=FLOAT32)([y, x])
    return inputs, CropLike(name="crop", dtype=FLOAT32)(y, inputs)


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class MultiScaleDenoiser(keras.Model):
    """The paper's multi-scale denoiser as a functional model whose config is its architecture.

    Built functionally in ``__init__`` (keras-hub's backbone pattern): the layers, their names and the
    saved weights are those of the plain functional model earlier versions saved, and ``get_config``
    returns exactly the constructor arguments, so a ``.keras`` file says which network it holds and
    ``keras.saving.load_model`` rebuilds it after ``import keras_semdenoise``. Make one with
    ``build_denoiser`` (same arguments, documented there).

    ``size_multiple`` (``2 ** (num_scales - 1)``) is the multiple the input is padded to internally.
    """

    def __init__(self, **kwargs):
        # The arguments, their defaults and their documentation are build_denoiser's (one place for them);
        # the rest (``trainable``, ...) are keras.Model's.
        options = {
            key: kwargs.pop(key, parameter.default)
            for key, parameter in inspect.signature(build_denoiser).parameters.items()
        }
        stem_filters, channels = int(options["stem_filters"]), int(options["channels"])
        num_scales, encoder_filters, decoder_filters = _architecture(
            options["num_scales"], stem_filters, options["encoder_filters"], options["decoder_filters"]
        )
        flags = {
            key: bool(options[key])
            for key in ("global_skip", "zero_init_output", "zero_init_residual", "synchronized_batchnorm")
        }
        inputs, outputs = _graph(
            num_scales,
            stem_filters,
            encoder_filters,
            decoder_filters,
            *flags.values(),
            channels,
            options["dtype_policy"],
        )
        super().__init__(inputs=inputs, outputs=outputs, name=options["name"], **kwargs)
        self.num_scales = num_scales
        self.stem_filters = stem_filters
        self.encoder_filters = encoder_filters
        self.decoder_filters = decoder_filters
        self.global_skip = flags["global_skip"]
        self.zero_init_output = flags["zero_init_output"]
        self.zero_init_residual = flags["zero_init_residual"]
        self.synchronized_batchnorm = flags["synchronized_batchnorm"]
        self.channels = channels
        # Not `self.dtype_policy`: that is the Layer's own policy (the model's, not its inner layers').
        self.inner_dtype_policy = options["dtype_policy"]

    @property
    def size_multiple(self) -> int:
        return 2 ** (self.num_scales - 1)

    def get_config(self):
        return {
            "num_scales": self.num_scales,
            "stem_filters": self.stem_filters,
            "encoder_filters": list(self.encoder_filters),
            "decoder_filters": list(self.decoder_filters),
            "global_skip": self.global_skip,
            "zero_init_output": self.zero_init_output,
            "zero_init_residual": self.zero_init_residual,
            "synchronized_batchnorm": self.synchronized_batchnorm,
            "channels": self.channels,
            "dtype_policy": self.inner_dtype_policy,
            "name": self.name,
            "trainable": self.trainable,
        }


def build_denoiser(
    num_scales: int | None = None,
    stem_filters: int = DEFAULT_STEM_FILTERS,
    encoder_filters: Sequence[int] | None = None,
    decoder_filters: Sequence[int] | None = None,
    global_skip: bool = True,
    zero_init_output: bool = True,
    zero_init_residual: bool = False,
    synchronized_batchnorm: bool = False,
    channels: int = 3,
    dtype_policy: str | None = None,
    name: str = "semdenoise_denoiser",
) -> MultiScaleDenoiser:
    """Builds the paper's multi-scale denoiser (a ``MultiScaleDenoiser``, a functional ``keras.Model``).

    With the defaults this is exactly the official architecture (about 1.03M
    trainable parameters; paper Table I: 1,026k).

    Args:
        num_scales: Number of scales including full resolution, 2 to 4. The
            default (3) has encoders at 1/2 and 1/4 and one decoder at 1/2. When
            given without ``encoder_filters`` / ``decoder_filters`` the default
            widths are repeated: encoders 128, decoders 256.
        stem_filters: Width of the 5x5 full-resolution conv0 (default 64).
        encoder_filters: One width per downsampling stage (length ``num_scales - 1``).
        decoder_filters: One width per decoder stage, finest last
            (length ``num_scales - 2``). The coarsest scale has no decoder.
        global_skip: Add the input to the output (residual learning).
        zero_init_output: Start the output conv at zero, so the untrained model
            is the identity when ``global_skip`` is on (training-speed choice, not
            part of the architecture).
        zero_init_residual: Start the last BN gamma of each residual block at 0.
        synchronized_batchnorm: BN statistics over the global batch under a tf.distribute
            strategy (TensorFlow backend), so N replicas train exactly like one.
        channels: Image channels, 3 for RGB.
        dtype_policy: Keras dtype policy of the inner layers, e.g. ``"mixed_bfloat16"``
            (bf16 compute, float32 weights); None follows the global policy. The padding,
            the output conv, the global skip and the crop always run in float32, so the
            output is float32 and the residual adds the exact input.
        name: Model name.

    Returns:
        A ``MultiScaleDenoiser`` mapping ``(N, H, W, channels)`` float32 images in
        [0, 1] plus noise to ``(N, H, W, channels)`` denoised images (same range,
        unclipped). ``H`` and ``W`` may be anything >= 1.

    Raises:
        ValueError: for scales outside 2..4, width lists of the wrong length, or
            non-positive widths.
    """
    return MultiScaleDenoiser(**locals())


def freeze_batch_norm(model) -> int:
    """Runs every BatchNormalization of ``model`` in inference mode, for fine-tuning: its moving statistics, gamma
    and beta are kept and used in training as they are at inference (Keras 3: ``trainable = False`` on a batch norm
    layer). The rest of the model trains as before. Returns how many layers were frozen.

    Why: a layer in training mode normalises by the statistics of the batch and moves its moving statistics toward
    them. Those of small patches (48x48, whose borders weigh more at the coarse scales) are not those of the whole
    images a denoiser runs on: re-estimating the shipped sigma-50 model's statistics on 48x48 patches alone costs it
    0.19 dB of validation PSNR (96x96: 0.04), the dip a CPU stage after a GPU one starts with.
    """
    layers_found = batch_norm_layers(model)
    for layer in layers_found:
        layer.trainable = False
    return len(layers_found)


def batch_norm_layers(model) -> list:
    """Every BatchNormalization layer of ``model``, nested ones included, in build order."""
    return [
        layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, layers.BatchNormalization)
    ]
