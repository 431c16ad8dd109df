"""Same-function rewrites of a trained functional denoiser for inference: batch norm folded into the
preceding convolution, and a different compute precision.

Both keep every layer name and the graph's shape, clone the model with ``keras.models.clone_model`` and
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
            target.set_weights([(kernel * scale).astype(np.float32),
                                ((bias - np.asarray(bn.moving_mean)) * scale + beta).astype(np.float32)])
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
