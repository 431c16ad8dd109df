"""Batch norm statistics of a trained denoiser, re-estimated on batches of another shape, and what that does to
its PSNR (``experiments/probes/batch_norm.py``).

A batch norm layer normalises by its batch's statistics in training and by its moving statistics at inference;
those follow the batches it trained on (their number of patches and patch size). Re-estimating them on other
batches, with no weight changed, shows how much of a fine-tuning stage's first dip is the statistics alone.
"""

from __future__ import annotations

import numpy as np

from keras_semdenoise.models.denoiser import batch_norm_layers


def moving_statistics(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(moving_mean, moving_variance)`` of every batch norm layer, copied."""
    return [(np.array(layer.moving_mean), np.array(layer.moving_variance)) for layer in batch_norm_layers(model)]


def set_moving_statistics(model, statistics: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Puts back what ``moving_statistics`` copied."""
    for layer, (mean, variance) in zip(batch_norm_layers(model), statistics, strict=True):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)


def reestimate(model, batches) -> int:
    """Sets every batch norm layer's moving statistics to the plain mean, over ``batches`` (iterable of noisy NHWC
    float32 inputs in [0, 1]-ish), of the statistics each batch has in training mode; no weight but those changes.
    Returns the number of batches. The layers' momentum is restored afterwards."""
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(batches, start=1):
            for layer in layers:  # running mean: the k-th batch weighs 1/k
                layer.momentum = (count - 1) / count
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count
