"""Losses of separate and joint training (paper Sec. III-B), pure ``keras.ops``.

L = L_D + lambda_P * L_P + lambda_H * L_H with
- L_D: MSE between the denoised and the clean image,
- L_P: MSE between the frozen head's relu3_3 features of the denoised and of the clean image,
- L_H: cross-entropy of the frozen head on the denoised image (void pixels ignored for segmentation).

Every loss returns one value per example (shape (N,)), so callers choose how to reduce (a mean over
the global batch under a distribution strategy).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from keras_semdenoise import tasks


@dataclasses.dataclass(frozen=True)
class JointLossWeights:
    lambda_p: float
    lambda_h: float

    @classmethod
    def paper(cls, task: str) -> "JointLossWeights":
        """The paper's weights for ``task`` (``tasks.Task.lambda_p`` / ``lambda_h``)."""
        described = tasks.get_task(task)
        return cls(described.lambda_p, described.lambda_h)


def _per_example_mean(x):
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def reconstruction_loss(clean, denoised):
    """L_D per example: mean squared error over H, W, C. Inputs (N, H, W, C) -> (N,)."""
    return _per_example_mean(ops.square(denoised - clean))


def perceptual_loss(features_clean, features_denoised):
    """L_P per example: mean squared error of feature maps (N, h, w, c) -> (N,)."""
    return _per_example_mean(ops.square(features_denoised - features_clean))


def classification_loss(labels, logits):
    """L_H for classification: cross-entropy of (N, K) logits against (N,) integer labels -> (N,)."""
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def segmentation_loss(labels, logits, ignore_index: int):
    """L_H for segmentation: per-pixel cross-entropy averaged over non-void pixels -> (N,).

    Args:
        labels: (N, H, W) or (N, H, W, 1) integer class map; ``ignore_index`` marks void.
        logits: (N, H, W, K).
        ignore_index: the void label (255 for VOC, 11 for CamVid here); such pixels add nothing.
    An image with no valid pixel contributes 0.
    """
    labels = ops.cast(labels, "int32")
    if len(labels.shape) == 4:
        labels = labels[..., 0]
    valid = ops.cast(ops.not_equal(labels, ignore_index), logits.dtype)
    safe_labels = ops.where(ops.not_equal(labels, ignore_index), labels, ops.zeros_like(labels))
    pixel_loss = ops.sparse_categorical_crossentropy(safe_labels, logits, from_logits=True) * valid
    totals = ops.sum(ops.reshape(pixel_loss, (ops.shape(pixel_loss)[0], -1)), axis=-1)
    counts = ops.sum(ops.reshape(valid, (ops.shape(valid)[0], -1)), axis=-1)
    return totals / ops.maximum(counts, 1.0)


def check_ignore_index(task: str, ignore_index: int | None) -> None:
    """Raises ValueError for an unknown task, or for segmentation without its void label."""
    if tasks.check_task(task) == tasks.SEGMENTATION.name and ignore_index is None:
        raise ValueError("segmentation needs ignore_index (the void label)")


def task_loss(task: str, labels, logits, ignore_index: int | None = None):
    """L_H per example for ``task`` (one of ``tasks.TASKS``)."""
    check_ignore_index(task, ignore_index)
    if task == tasks.CLASSIFICATION.name:
        return classification_loss(labels, logits)
    return segmentation_loss(labels, logits, ignore_index)


def joint_loss_terms(
    clean,
    denoised,
    features_clean,
    features_denoised,
    labels,
    logits,
    task: str,
    weights: JointLossWeights,
    ignore_index: int | None = None,
) -> dict:
    """All terms per example (each (N,)): 'reconstruction', 'perceptual', 'task' and 'total'.

    A term whose weight is 0 is still reported (so its gradient map can be drawn) but adds nothing.
    """
    terms = {
        "reconstruction": reconstruction_loss(clean, denoised),
        "perceptual": perceptual_loss(features_clean, features_denoised),
        "task": task_loss(task, labels, logits, ignore_index),
    }
    terms["total"] = terms["reconstruction"] + weights.lambda_p * terms["perceptual"] + weights.lambda_h * terms["task"]
    return terms


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class SegmentationCrossEntropy(keras.losses.Loss):
    """``segmentation_loss`` as a Keras loss (for training heads with ``compile``/``fit``)."""

    def __init__(self, ignore_index: int, name: str = "segmentation_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_index = int(ignore_index)

    def call(self, y_true, y_pred):
        return segmentation_loss(y_true, y_pred, self.ignore_index)

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index}
