"""Photometric jitter of segmentation training frames: brightness, contrast and saturation.

Why: the CamVid test sequences are lit differently from the training ones (the head scores 57.7% mIoU on
``val`` and 44.5% on ``test``); jittering the colours of each training frame is the usual remedy
(torchvision's ``ColorJitter``, DeepLab-style recipes).

One definition for both readers: ``adjust`` is written once against an array namespace (``numpy`` for
packed data, ``tf.experimental.numpy`` inside tf.data), and the three factors are drawn independently
and uniformly from ``[1 - strength, 1 + strength]`` by either reader (``factors_np`` / ``factors_tf``).
Labels are untouched. Applied to the (rescaled) frame before it is padded with void and cropped.
"""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 luma weights: the grey that contrast and saturation pivot on.
LUMA = (0.299, 0.587, 0.114)
MAX_STRENGTH = 0.9  # factors stay positive: 1 - strength > 0


def check_strength(strength, task: str) -> float | None:
    """``strength`` as a float in (0, MAX_STRENGTH], or None for 0 / None (no jitter); raises ValueError
    outside that range or for a task other than segmentation (the only one it augments)."""
    if not strength:
        return None
    if not 0 < strength <= MAX_STRENGTH:
        raise ValueError(f"color_jitter must be in (0, {MAX_STRENGTH}], got {strength}")
    if task != "segmentation":
        raise ValueError(f"color_jitter is a segmentation augmentation, not for {task}")
    return float(strength)


def adjust(image, brightness, contrast, saturation, xp=np):
    """Image (H, W, 3) float in [0, 1] with its colours changed, in [0, 1].

    In this order: every value scaled by ``brightness``; values moved away from (factor > 1) or towards
    the image's mean grey by ``contrast``; each pixel moved away from or towards its own grey by
    ``saturation``; then clipped to [0, 1]. Factors of 1 return the image unchanged. ``xp``: the array
    namespace (``numpy``, or ``tf.experimental.numpy`` on tensors).
    """
    image = image * brightness
    grey = image[..., 0:1] * LUMA[0] + image[..., 1:2] * LUMA[1] + image[..., 2:3] * LUMA[2]
    mean = xp.mean(grey)
    image = (image - mean) * contrast + mean
    grey = grey * contrast + mean * (1 - contrast)  # the grey of the contrast-adjusted image
    image = (image - grey) * saturation + grey
    return xp.clip(image, 0.0, 1.0)


def factors_np(strength: float, rng) -> np.ndarray:
    """Brightness, contrast and saturation factors, each uniform in [1 - strength, 1 + strength]."""
    return rng.uniform(1.0 - strength, 1.0 + strength, 3)


def factors_tf(strength: float):
    """As ``factors_np``, drawn in TensorFlow (tf.data's seed)."""
    import tensorflow as tf

    return tf.random.uniform([3], 1.0 - strength, 1.0 + strength)


def jitter_np(image, strength: float, rng):
    """``adjust`` with freshly drawn factors, on a numpy image (H, W, 3) float in [0, 1]."""
    return adjust(image, *factors_np(strength, rng)).astype(np.float32)


def jitter_tf(image, strength: float):
    """``adjust`` with freshly drawn factors, on a tensor (H, W, 3) float32 in [0, 1]."""
    import tensorflow.experimental.numpy as tnp

    brightness, contrast, saturation = tuple(factors_tf(strength)[i] for i in range(3))
    return adjust(image, brightness, contrast, saturation, xp=tnp)
