"""PSNR and SSIM, one definition each.

Protocol (PAPER.md): the image is clipped to [0, 1] and rounded to 8 bits, then
PSNR is computed over the whole image, RGB jointly, against the 8-bit clean
image. ``crop_border`` > 0 gives the official code's variant (border removed).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (values outside are clipped) -> uint8 by rounding."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _crop(image: np.ndarray, crop_border: int) -> np.ndarray:
    if crop_border <= 0:
        return image
    return image[crop_border:-crop_border, crop_border:-crop_border]


def psnr_uint8(reference: np.ndarray, test: np.ndarray, crop_border: int = 0) -> float:
    """PSNR in dB between two images after 8-bit quantisation.

    Args:
        reference, test: (H, W, C) arrays; uint8, or float in [0, 1] (clipped and rounded).
        crop_border: pixels removed from each edge before measuring.
    Returns:
        PSNR in dB; ``inf`` when the images are equal.
    """
    ref = reference if reference.dtype == np.uint8 else to_uint8(reference)
    tst = test if test.dtype == np.uint8 else to_uint8(test)
    if ref.shape != tst.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {tst.shape}")
    diff = _crop(ref.astype(np.float64) - tst.astype(np.float64), crop_border)
    mse = float(np.mean(diff**2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(255.0**2 / mse)


def ssim_uint8(reference: np.ndarray, test: np.ndarray, crop_border: int = 0) -> float:
    """SSIM (Wang et al. 2004, Gaussian window, as in scikit-image) on 8-bit RGB, channels averaged."""
    from skimage.metrics import structural_similarity

    ref = _crop(reference if reference.dtype == np.uint8 else to_uint8(reference), crop_border)
    tst = _crop(test if test.dtype == np.uint8 else to_uint8(test), crop_border)
    return float(
        structural_similarity(
            ref,
            tst,
            channel_axis=-1,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


@keras.saving.register_keras_serializable(package="keras_semdenoise")
def psnr_float(y_true, y_pred):
    """Per-batch PSNR in dB of float images in [0, 1] (no quantisation): a training metric, keras.ops."""
    mse = ops.mean(ops.square(ops.clip(y_pred, 0.0, 1.0) - y_true))
    return 10.0 * ops.log(1.0 / ops.maximum(mse, 1e-12)) / ops.log(10.0)


def top_k_correct(labels: np.ndarray, logits: np.ndarray, k: int) -> np.ndarray:
    """Boolean (N,): whether each true label is among the ``k`` highest of its (N, K) scores."""
    labels = np.asarray(labels).reshape(-1)
    top = np.argsort(-np.asarray(logits), axis=-1)[:, :k]
    return np.any(top == labels[:, None], axis=-1)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int, ignore_index: int | None):
    """(num_classes, num_classes) counts, rows = truth, columns = prediction; void pixels skipped."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
    keep = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        keep &= labels != ignore_index
    return np.bincount(labels[keep] * num_classes + predictions[keep], minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """(K,) intersection-over-union of each class from a (K, K) confusion matrix; NaN for a class absent from
    both truth and prediction."""
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean intersection-over-union over the classes present in truth or prediction (VOC protocol)."""
    iou = class_iou(confusion)
    present = np.isfinite(iou)
    return float(np.mean(iou[present])) if present.any() else float("nan")
