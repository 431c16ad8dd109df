"""The noise model, in one place: additive i.i.d. Gaussian noise on [0, 1] images.

``noisy = clean + (sigma_255 / 255) * N(0, 1)``, unclipped, per pixel and channel.
Training draws the noise at random inside tf.data (``add_gaussian_noise_tf``);
evaluation draws it from a seed made of the image's name and sigma
(``seeded_gaussian_noise``), so every method and every run sees the same noisy input.
"""

from __future__ import annotations

import hashlib
import math
import warnings

import numpy as np

MAX_SIGMA_255 = 255.0
# The paper's main noise level: the default wherever a sigma is not given.
DEFAULT_SIGMA_255 = 25.0


def check_sigma(sigma_255: float) -> float:
    """Returns ``sigma_255`` as a float, or raises ValueError if it is not in [0, 255]."""
    try:
        value = float(sigma_255)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number in [0, 255], got {sigma_255!r}") from None
    if not np.isfinite(value) or not 0.0 <= value <= MAX_SIGMA_255:
        raise ValueError(f"sigma must be in [0, 255] (on the 0..255 scale), got {sigma_255!r}")
    return value


SIGMA_WEIGHTINGS = ("none", "inverse")
INVERSE_WEIGHT_OFFSET_255 = 5.0  # 1 / (sigma + 5): finite at sigma 0


def check_sigma_weighting(sigma_weighting: str, sigma_range_255) -> str:
    """Raises ValueError for an unknown weighting, or a weighting without a blind sigma range."""
    if sigma_weighting not in SIGMA_WEIGHTINGS:
        raise ValueError(f"sigma_weighting must be one of {', '.join(SIGMA_WEIGHTINGS)}, got {sigma_weighting!r}")
    if sigma_weighting != "none" and sigma_range_255 is None:
        raise ValueError(f"sigma_weighting={sigma_weighting} weights blind training's levels: it needs a sigma range")
    return sigma_weighting


def sigma_loss_weights(sigmas_255, sigma_range_255: tuple[float, float]):
    """Blind training's ``inverse`` weighting: per patch ``1 / (sigma + 5)``, scaled to mean 1 over sigmas drawn
    uniformly from ``sigma_range_255`` (so the loss keeps its size and the learning rate its meaning).

    Plain MSE over patches of every level is ruled by the noisiest ones (their squared errors are the
    largest), so a blind model lags the per-sigma models most at low sigma. A trained denoiser's squared error
    grows about in proportion to sigma (shipped models, CBSD68: MSE 29.6 at sigma 15, 111 at 50, on 0..255),
    so weighting each patch by about its inverse makes the loss track the mean PSNR over levels instead.
    Works on numpy arrays and TensorFlow tensors alike (arithmetic only).
    """
    low, high = (float(s) + INVERSE_WEIGHT_OFFSET_255 for s in sigma_range_255)
    mean = np.log(high / low) / (high - low) if high > low else 1.0 / low  # E[1 / (sigma + 5)], sigma ~ U
    return (1.0 / (sigmas_255 + INVERSE_WEIGHT_OFFSET_255)) / float(mean)


def noise_seed(name: str, sigma_255: float) -> int:
    """A 64-bit seed derived from an image name and sigma (stable across runs and machines)."""
    digest = hashlib.sha256(f"{name}|{float(sigma_255):.4f}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def seeded_gaussian_noise(shape, sigma_255: float, name: str) -> np.ndarray:
    """Deterministic noise for evaluation: float32 array of ``shape``, std ``sigma_255 / 255``."""
    sigma_255 = check_sigma(sigma_255)
    rng = np.random.Generator(np.random.PCG64(noise_seed(name, sigma_255)))
    return (rng.standard_normal(shape, dtype=np.float64) * (sigma_255 / 255.0)).astype(np.float32)


def add_seeded_gaussian_noise(clean: np.ndarray, sigma_255: float, name: str) -> np.ndarray:
    """The evaluation protocol's noisy input: ``clean`` (H, W, C) float32 in [0, 1] plus seeded noise."""
    return clean.astype(np.float32) + seeded_gaussian_noise(clean.shape, sigma_255, name)


def add_gaussian_noise_tf(clean, sigma_255, seed=None):
    """Training noise inside tf.data: ``clean`` (..., H, W, C) float32 in [0, 1].

    ``sigma_255`` is a scalar or a tensor broadcastable to ``clean`` (per-patch
    sigmas for blind training). Returns the unclipped noisy tensor.
    """
    import tensorflow as tf

    sigma = tf.cast(sigma_255, tf.float32) / 255.0
    return clean + sigma * tf.random.normal(tf.shape(clean), seed=seed, dtype=tf.float32)


def add_gaussian_noise_np(clean: np.ndarray, sigma_255, rng: np.random.Generator) -> np.ndarray:
    """Training noise on the numpy data path (JAX backend): same model as ``add_gaussian_noise_tf``."""
    sigma = np.asarray(sigma_255, dtype=np.float32) / 255.0
    return clean + sigma * rng.standard_normal(clean.shape, dtype=np.float32)


def estimate_sigma(image: np.ndarray) -> float:
    """Estimated noise level of an (H, W, 3) float image in [0, 1], on the 0..255 scale.

    The wavelet estimator of Donoho & Johnstone (1994), as scikit-image's ``estimate_sigma``: the median
    absolute deviation of the finest diagonal (HH) wavelet coefficients divided by 0.6745, per channel,
    averaged. Chosen because it is published, parameter-free and fast (one wavelet level), and is
    accurate for i.i.d. Gaussian noise on natural images. It reads real camera noise (signal-dependent,
    spatially correlated by demosaicking and JPEG) as much lower than it looks; ``docs/sigma_auto``
    measures both, and the model choice (``models.shipped.choose_model_for_sigma``) is tuned on them.

    Never NaN: a flat or all-black image, or one under 2x2 pixels, is estimated at 0.0.
    """
    from skimage.restoration import estimate_sigma as wavelet_sigma

    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    if min(array.shape[:2]) < 2:
        return 0.0  # too small for one wavelet level: nothing to measure
    with warnings.catch_warnings():
        # An all-black image has no non-zero detail coefficient: the median of none (NaN), read as no noise.
        warnings.simplefilter("ignore", RuntimeWarning)
        estimate = float(wavelet_sigma(array, channel_axis=-1, average_sigmas=True) * 255.0)
    return estimate if math.isfinite(estimate) else 0.0
