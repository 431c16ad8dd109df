"""keras-semdenoise: image denoising that helps high-level vision (Liu et al., IEEE TIP 2020).

Public API (images are float32 RGB in [0, 1], NHWC / HWC):

    from keras_semdenoise import load_denoiser, shipped_model_for_sigma, denoise
    model = load_denoiser(shipped_model_for_sigma(25)[0])
    estimate = denoise(model, noisy_image)        # (H, W, 3) float32

Names are imported on first use, so ``import keras_semdenoise`` (and the CLI's
``--help``) does not start TensorFlow.
"""

import importlib

_PUBLIC = {
    "build_denoiser": "keras_semdenoise.denoiser",
    "denoise": "keras_semdenoise.inference",
    "load_denoiser": "keras_semdenoise.inference",
    "shipped_model_for_sigma": "keras_semdenoise.inference",
    "shipped_models": "keras_semdenoise.inference",
    "psnr_uint8": "keras_semdenoise.metrics",
    "ssim_uint8": "keras_semdenoise.metrics",
    "add_seeded_gaussian_noise": "keras_semdenoise.noise",
}
__all__ = sorted(_PUBLIC)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_semdenoise' has no attribute {name!r}")
