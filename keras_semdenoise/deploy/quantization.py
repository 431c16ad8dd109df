"""Making the denoiser int8-friendly without changing what it computes.

Full-integer TFLite gives every activation tensor one scale, and a CONCATENATION must share one
scale across all its inputs. In the denoiser the upsampled branch (``up2``, a transposed conv) spans
about +-43 while the skip it is concatenated with (``res1_out``) spans about 17, so the skip is
re-quantized on the wide grid and loses most of its precision (about -0.8 dB PSNR at sigma 25).

``equalize_concat_inputs`` rescales, per output channel, every concat input that comes straight from
a linear conv / transposed conv used nowhere else, so that each channel spans the same range as the
concat's other inputs, and divides the matching input channels of the single conv that reads the
concat by the same factors. The function is unchanged (ReLU-free linear path, exact up to float
rounding); only the activation ranges the quantizer sees are evened out.
"""

from __future__ import annotations

import numpy as np

FACTOR_LIMITS = (1e-3, 1e3)  # per-channel rescaling is clipped to this range


def _producers(layer) -> list:
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [tensor._keras_history[0] for tensor in inputs]


def _consumers(model) -> dict:
    import keras

    consumers = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for producer in _producers(layer):
            consumers.setdefault(producer.name, []).append(layer)
    return consumers


def _rescalable(layer, consumers: dict) -> bool:
    import keras

    return (
        isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))
        and layer.use_bias
        and layer.activation is keras.activations.linear
        and len(consumers.get(layer.name, [])) == 1
    )


def concat_plans(model) -> list[tuple]:
    """``(concat, reader, producers, rescalable flags)`` for every concat that can be equalized."""
    import keras

    consumers = _consumers(model)
    plans = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Concatenate) or layer.axis not in (-1, 3):
            continue
        readers = consumers.get(layer.name, [])
        if len(readers) != 1 or type(readers[0]) is not keras.layers.Conv2D:
            continue
        producers = _producers(layer)
        flags = [_rescalable(p, consumers) for p in producers]
        if any(flags) and not all(flags):
            plans.append((layer, readers[0], producers, flags))
    return plans


def channel_ranges(model, layer_names: list[str], images) -> dict[str, np.ndarray]:
    """Max |activation| per channel of the named layers over ``images`` ((H, W, 3) float32 each)."""
    import keras

    probe = keras.Model(model.input, [model.get_layer(name).output for name in layer_names])
    ranges = {name: None for name in layer_names}
    for image in images:
        outputs = probe(np.asarray(image, np.float32)[None], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for name, output in zip(layer_names, outputs):
            output = np.asarray(output)
            peak = np.abs(output).reshape(-1, output.shape[-1]).max(axis=0)
            ranges[name] = peak if ranges[name] is None else np.maximum(ranges[name], peak)
    return ranges


def equalize_concat_inputs(model, images):
    """A copy of ``model`` computing the same function, with concat input ranges evened out for int8.

    Args:
        model: a functional Keras model (the denoiser; NHWC).
        images: calibration images, an iterable of (H, W, 3) float32 noisy inputs (as for int8).
    Returns:
        A new ``keras.Model`` (``model`` is untouched); ``model`` itself when nothing applies.
    """
    import keras

    plans = concat_plans(model)
    if not plans:
        return model
    images = list(images)
    if not images:
        raise ValueError("equalize_concat_inputs needs at least one calibration image")
    names = sorted({p.name for _, _, producers, _ in plans for p in producers})
    ranges = channel_ranges(model, names, images)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for _, reader, producers, flags in plans:
        target = max(float(ranges[p.name].max()) for p, flag in zip(producers, flags) if not flag)
        offset = 0
        for producer, flag in zip(producers, flags):
            width = ranges[producer.name].shape[0]
            if flag and target > 0:
                factor = np.clip(target / np.maximum(ranges[producer.name], 1e-12), *FACTOR_LIMITS)
                layer = copy.get_layer(producer.name)
                kernel, bias = layer.get_weights()
                # Conv2D kernels are (kh, kw, in, out); Conv2DTranspose kernels are (kh, kw, out, in).
                scale = factor[None, None, :, None] if isinstance(layer, keras.layers.Conv2DTranspose) else factor
                layer.set_weights([kernel * scale, bias * factor])
                weights = copy.get_layer(reader.name).get_weights()
                weights[0] = weights[0].copy()
                weights[0][:, :, offset : offset + width, :] /= factor[:, None]
                copy.get_layer(reader.name).set_weights(weights)
            offset += width
    return copy
