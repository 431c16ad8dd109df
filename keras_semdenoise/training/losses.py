"""Losses of separate and joint training (paper Sec. III-B), pure ``keras.ops``.

L = L_D + lambda_P * L_P + lambda_H * L_H with
- L_D: MSE between the denoised and the clean image,
- L_P: MSE between the frozen head's relu3_3 features of the denoised and of the clean image,
- L_H: cross-entropy of the frozen head on the denoised image (void pixels ignored for segmentation).

Every loss returns one value per example (shape (N,)), so callers choose how to reduce (a mean over
the global batch under a distribution strategy).

Two loss scales (``JointLossWeights.scale``):

- ``paper``: L_D is the mean squared error on the [0, 1] scale, with lambda_D = 1 and the paper's
  lambda_P / lambda_H (``task_kinds.Task``).
- ``official``: as the official Caffe code (``Ding-Liu/DeepDenoising``, ``exper/config/``) computes it.
  ``train_seg.prototxt``: ``layer { name: "recon_loss" type: "EuclideanLoss" bottom: "prediction"
  bottom: "data_crop" loss_weight: 5e-9 }``; Caffe's ``EuclideanLoss`` is ``1 / (2 N) * sum ||pred -
  target||^2`` over the batch's pixels on the 0..255 scale (the mean subtraction of ``transform_param``
  cancels in the difference), i.e. per example half the *sum* of squared errors in 0..255 units
  (``reconstruction_loss(..., scale="official")``), and the task term is a ``SoftmaxWithLoss`` of weight
  1. ``train_cls.prototxt`` has the reconstruction weight at 0. Neither has a perceptual term, so
  lambda_P = 0 (``JointLossWeights.official``). The per-example mean of the task term matches Caffe's
  for classification; for segmentation Caffe averages over the batch's valid pixels, here each image's
  valid pixels are averaged and then the images (the same when images have equal valid counts).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_semdenoise import task_kinds

LOSS_SCALES = ("paper", "official")
# 0.5 * sum over pixels and channels of the squared error in 0..255 units = this times the (N,) sum on [0, 1].
OFFICIAL_SCALE = 0.5 * 255.0**2


@dataclasses.dataclass(frozen=True)
class JointLossWeights:
    """L = lambda_D L_D + lambda_P L_P + lambda_H L_H, with L_D on ``scale`` (see the module docstring)."""

    lambda_p: float
    lambda_h: float
    lambda_d: float = 1.0
    scale: str = "paper"

    def __post_init__(self):
        if self.scale not in LOSS_SCALES:
            raise ValueError(f"loss scale must be one of {', '.join(LOSS_SCALES)}, got {self.scale!r}")

    @classmethod
    def paper(cls, task: str) -> JointLossWeights:
        """The paper's weights for ``task`` (``task_kinds.Task.lambda_p`` / ``lambda_h``)."""
        described = task_kinds.get_task(task)
        return cls(described.lambda_p, described.lambda_h)

    @classmethod
    def official(cls, task: str) -> JointLossWeights:
        """The official code's loss for ``task``: 0.5 x summed squared error on 0..255 weighted by
        ``task_kinds.Task.official_lambda_d``, no perceptual term, the task term with weight 1."""
        return cls(lambda_p=0.0, lambda_h=1.0, lambda_d=task_kinds.get_task(task).official_lambda_d, scale="official")

    @classmethod
    def for_scale(cls, task: str, scale: str) -> JointLossWeights:
        """``paper(task)`` or ``official(task)``."""
        if scale not in LOSS_SCALES:
            raise ValueError(f"loss scale must be one of {', '.join(LOSS_SCALES)}, got {scale!r}")
        return cls.paper(task) if scale == "paper" else cls.official(task)


def _per_example_mean(x):
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def reconstruction_loss(clean, denoised, scale: str = "paper"):
    """L_D per example, inputs (N, H, W, C) in [0, 1] -> (N,): the mean squared error over H, W, C
    (``paper``), or half the summed squared error in 0..255 units (``official``, Caffe's EuclideanLoss)."""
    squared = ops.square(denoised - clean)
    if scale == "official":
        return OFFICIAL_SCALE * ops.sum(ops.reshape(squared, (ops.shape(squared)[0], -1)), axis=-1)
    return _per_example_mean(squared)


def perceptual_loss(features_clean, features_denoised):
    """L_P per example: mean squared error of feature maps (N, h, w, c) -> (N,)."""
    return _per_example_mean(ops.square(features_denoised - features_clean))


def classification_loss(labels, logits):
    """L_H for classification: cross-entropy of (N, K) logits against (N,) integer labels -> (N,)."""
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def segmentation_loss(labels, logits, ignore_index: int, class_weights=None):
    """L_H for segmentation: per-pixel cross-entropy averaged over non-void pixels -> (N,).

    Args:
        labels: (N, H, W) or (N, H, W, 1) integer class map; ``ignore_index`` marks void.
        logits: (N, H, W, K).
        ignore_index: the void label (255 for VOC, 11 for CamVid here); such pixels add nothing.
        class_weights: optional (K,) weight of each class's pixels (``median_frequency_weights``); the
            weighted sum is still divided by the count of non-void pixels, as SegNet's weighted Caffe
            ``SoftmaxWithLoss`` does. None: every pixel weighs 1 (the paper's and the joint loss's).
    An image with no valid pixel contributes 0.
    """
    labels = ops.cast(labels, "int32")
    if len(labels.shape) == 4:
        labels = labels[..., 0]
    valid = ops.cast(ops.not_equal(labels, ignore_index), logits.dtype)
    safe_labels = ops.where(ops.not_equal(labels, ignore_index), labels, ops.zeros_like(labels))
    pixel_loss = ops.sparse_categorical_crossentropy(safe_labels, logits, from_logits=True) * valid
    if class_weights is not None:
        pixel_loss = pixel_loss * ops.take(ops.convert_to_tensor(class_weights, pixel_loss.dtype), safe_labels)
    totals = ops.sum(ops.reshape(pixel_loss, (ops.shape(pixel_loss)[0], -1)), axis=-1)
    counts = ops.sum(ops.reshape(valid, (ops.shape(valid)[0], -1)), axis=-1)
    return totals / ops.maximum(counts, 1.0)


def median_frequency_weights(class_pixels, present_pixels) -> np.ndarray:
    """Median frequency balancing (Eigen & Fergus 2015, as SegNet trains on CamVid): class c weighs
    ``median(freq) / freq(c)``, with ``freq(c)`` = pixels of class c / pixels of the images where c is present.

    Args:
        class_pixels: (K,) non-void pixels of each class in the training split.
        present_pixels: (K,) non-void pixels of the images that hold class c.
    Returns:
        (K,) float32 weights; the median is over the classes present, and a class never present weighs 0.
    """
    class_pixels = np.asarray(class_pixels, np.float64)
    present_pixels = np.asarray(present_pixels, np.float64)
    if class_pixels.shape != present_pixels.shape or class_pixels.ndim != 1:
        raise ValueError(
            f"class_pixels and present_pixels must be two (K,) arrays, got shapes "
            f"{class_pixels.shape} and {present_pixels.shape}"
        )
    if np.any(class_pixels > present_pixels) or np.any(class_pixels < 0):
        raise ValueError("each class's pixels must lie between 0 and the pixels of the images holding it")
    present = class_pixels > 0
    if not present.any():
        raise ValueError("no class has a labelled pixel: nothing to balance")
    frequency = class_pixels[present] / present_pixels[present]
    weights = np.zeros(class_pixels.shape, np.float32)
    weights[present] = np.median(frequency) / frequency
    return weights


def check_ignore_index(task: str, ignore_index: int | None) -> None:
    """Raises ValueError for an unknown task, or for segmentation without its void label."""
    if task_kinds.check_task(task) == task_kinds.SEGMENTATION.name and ignore_index is None:
        raise ValueError("segmentation needs ignore_index (the void label)")


def task_loss(task: str, labels, logits, ignore_index: int | None = None):
    """L_H per example for ``task`` (one of ``task_kinds.TASKS``)."""
    check_ignore_index(task, ignore_index)
    if task == task_kinds.CLASSIFICATION.name:
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
    """All terms per example (each (N,)): 'reconstruction' (on ``weights.scale``), 'perceptual', 'task'
    and 'total' = lambda_D L_D + lambda_P L_P + lambda_H L_H.

    A term whose weight is 0 is still reported (so its gradient map can be drawn) but adds nothing.
    Every term is computed in float32, whatever precision the networks ran in (``mixed_bfloat16``).
    """
    clean, denoised, features_clean, features_denoised, logits = (
        ops.cast(t, "float32") for t in (clean, denoised, features_clean, features_denoised, logits)
    )
    terms = {
        "reconstruction": reconstruction_loss(clean, denoised, weights.scale),
        "perceptual": perceptual_loss(features_clean, features_denoised),
        "task": task_loss(task, labels, logits, ignore_index),
    }
    terms["total"] = (
        weights.lambda_d * terms["reconstruction"]
        + weights.lambda_p * terms["perceptual"]
        + weights.lambda_h * terms["task"]
    )
    return terms


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class SegmentationCrossEntropy(keras.losses.Loss):
    """``segmentation_loss`` as a Keras loss (for training heads with ``compile``/``fit``)."""

    def __init__(self, ignore_index: int, class_weights=None, name: str = "segmentation_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_index = int(ignore_index)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        return segmentation_loss(y_true, y_pred, self.ignore_index, self.class_weights)

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index, "class_weights": self.class_weights}
