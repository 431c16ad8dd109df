"""Same-function rewrites of a trained functional denoiser for inference: batch norm folded into the
preceding convolution, a different compute precision, and transposed convolutions as phase convolutions
(for TFLite's XNNPACK).

All keep every layer name and the graph's shape, clone the model with ``keras.models.clone_model`` and
copy (or fold) the trained weights, so they apply to any denoiser ``build_denoiser`` makes (any scales,
widths, with or without the global skip) and to a loaded ``.keras`` file.
"""

from __future__ import annotations

import keras
import numpy as np

# Layers that stay float32 under a mixed policy (denoiser.FLOAT32): input padding, output conv, skip, crop.
FLOAT32_LAYERS = ("pad", "out", "sum", "crop")


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class FoldedBatchNorm(keras.layers.Layer):
    """Where a BatchNormalization was before folding: the identity (takes BN's call arguments)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _foldable_pairs(model) -> dict:
    """``{bn_layer_name: conv_layer}`` for each BatchNormalization fed only by a Conv2D that feeds only it."""
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        node = layer._inbound_nodes[0]
        parents = [t._keras_history.operation for t in node.input_tensors]
        if len(parents) != 1 or type(parents[0]) is not keras.layers.Conv2D:
            continue
        conv = parents[0]
        if len(conv._outbound_nodes) == 1 and len(layer._inbound_nodes) == 1:
            pairs[layer.name] = conv
    return pairs


def fold_batch_norm(model):
    """A copy of ``model`` with each inference-mode BatchNormalization folded into the conv before it.

    ``conv -> BN`` becomes ``conv'`` (with a bias) ``-> Identity`` of the same names, where per output
    channel ``scale = gamma / sqrt(moving_var + eps)``, ``W' = W * scale`` and
    ``b' = (b - moving_mean) * scale + beta``. Outputs equal the original's in inference mode (to float
    rounding); the folded model is for inference only (no BN statistics left to train).
    """
    pairs = _foldable_pairs(model)
    convs = {conv.name: bn for bn, conv in pairs.items()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            return FoldedBatchNorm(name=layer.name, dtype=layer.dtype_policy.name)
        if layer.name in convs:
            config["use_bias"] = True
            config["bias_initializer"] = "zeros"
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = folded.get_layer(layer.name)
        if layer.name in pairs:
            continue
        if layer.name in convs:
            bn = model.get_layer(convs[layer.name])
            kernel = np.asarray(layer.kernel)
            bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
            gamma = np.asarray(bn.gamma) if bn.scale else np.ones_like(bias)
            beta = np.asarray(bn.beta) if bn.center else np.zeros_like(bias)
            scale = gamma / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
            target.set_weights(
                [
                    (kernel * scale).astype(np.float32),
                    ((bias - np.asarray(bn.moving_mean)) * scale + beta).astype(np.float32),
                ]
            )
        elif layer.weights:
            target.set_weights(layer.get_weights())
    return folded


def with_dtype_policy(model, policy: str):
    """A copy of ``model`` whose layers compute in ``policy`` (e.g. ``"mixed_bfloat16"``), same weights.

    The layers named in ``FLOAT32_LAYERS`` stay float32, so the output is float32 and the global skip
    adds the exact input.
    """

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name in FLOAT32_LAYERS else policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def training_twin(model, policy: str):
    """The network a trainer trains in ``policy``: ``model`` itself for ``"float32"``, else its
    ``with_dtype_policy`` copy. ``model`` stays the float32 network that is validated and shipped, with the
    trained weights copied back into it by ``copy_weights``."""
    return model if policy == "float32" else with_dtype_policy(model, policy)


def copy_weights(trained, model) -> None:
    """Copies the weights of ``trained`` (a ``training_twin``) into ``model``; nothing when they are one."""
    if trained is not model:
        model.set_weights(trained.get_weights())


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class PhaseConvUpsample(keras.layers.Layer):
    """A 4x4 stride-2 "same" transposed convolution computed as one 2x2 convolution and a pixel shuffle.

    Each output pixel of the transposed conv reads a 2x2 window of the input, with a different 2x2
    slice of the 4x4 kernel per output phase (even/odd row, even/odd column). So: zero-pad the input by
    one pixel, a 2x2 "valid" conv with the four phase kernels as ``4 * filters`` output channels,
    ``depth_to_space(2)``, then drop the outer pixel. The multiply-adds are the transposed conv's, and
    no op needs the input's size (TFLite's TRANSPOSE_CONV takes its output shape as a tensor, which with
    a dynamic input is computed at run time and keeps the op, and every op after it, out of XNNPACK).

    Input ``(N, H, W, C)`` -> output ``(N, 2H, 2W, filters)``. Weights: ``kernel`` (2, 2, C, 4 * filters)
    and ``bias`` (4 * filters,), made from a ``Conv2DTranspose`` by ``transposed_conv_weights``.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(2, 2, input_shape[-1], 4 * self.filters))
        self.bias = self.add_weight(name="bias", shape=(4 * self.filters,), initializer="zeros")

    def call(self, x):
        x = keras.ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        x = keras.ops.conv(x, keras.ops.cast(self.kernel, x.dtype), padding="valid")
        x = keras.ops.depth_to_space(x + keras.ops.cast(self.bias, x.dtype), 2)
        return x[:, 1:-1, 1:-1, :]

    def compute_output_shape(self, input_shape):
        def double(size):
            return None if size is None else 2 * size

        return (input_shape[0], double(input_shape[1]), double(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def transposed_conv_weights(kernel: np.ndarray, bias: np.ndarray) -> list[np.ndarray]:
    """``PhaseConvUpsample`` weights equal to a 4x4 stride-2 "same" ``Conv2DTranspose``'s.

    ``kernel`` is the transposed conv's (4, 4, filters, C), ``bias`` its (filters,). Output phase ``q``
    (0 or 1 per axis; channel group ``2 * qy + qx``, depth_to_space's order) at padded-input offset
    ``a`` takes tap ``2 + q - 2a`` of the 4x4 kernel.
    """
    taps = np.array([[2, 0], [3, 1]])  # taps[q, a]
    filters, channels = kernel.shape[2], kernel.shape[3]
    phases = np.empty((2, 2, channels, 2, 2, filters), np.float32)
    for qy in range(2):
        for qx in range(2):
            for a in range(2):
                for b in range(2):
                    phases[a, b, :, qy, qx, :] = kernel[taps[qy, a], taps[qx, b]].T
    return [phases.reshape(2, 2, channels, 4 * filters), np.tile(np.asarray(bias, np.float32), 4)]


def _phase_convertible(layer) -> bool:
    return (
        type(layer) is keras.layers.Conv2DTranspose
        and tuple(layer.kernel_size) == (4, 4)
        and tuple(layer.strides) == (2, 2)
        and layer.padding == "same"
        and layer.use_bias
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.activation is keras.activations.linear
        and layer.data_format == "channels_last"
    )


def transposed_conv_as_phase_conv(model):
    """A copy of ``model`` with every 4x4 stride-2 "same" ``Conv2DTranspose`` as a ``PhaseConvUpsample``.

    Same function (to float rounding), same layer names; for TFLite export (see ``PhaseConvUpsample``).
    ``model`` itself when it has no such layer.
    """
    names = {layer.name for layer in model.layers if _phase_convertible(layer)}
    if not names:
        return model

    def clone(layer):
        if layer.name in names:
            return PhaseConvUpsample(layer.filters, name=layer.name, dtype=layer.dtype_policy.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in names:
            copy.get_layer(layer.name).set_weights(transposed_conv_weights(*layer.get_weights()))
        elif layer.weights:
            copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy
