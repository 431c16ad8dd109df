"""16x8 (int16 activations, int8 weights) vs int8 on 192x192 centre crops of 4 Kodak24 images (16x8 is slow)."""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np

from keras_semdenoise import metrics, noise
from keras_semdenoise.data import images
from keras_semdenoise.deploy import export, inference

model = inference.load_denoiser("saved_models/denoiser_sigma25.keras")
runners = {
    "int8": export.TFLiteDenoiser("/tmp/int8/final_int8.tflite"),
    "16x8": export.TFLiteDenoiser("/tmp/int8/ph_16x8.tflite"),
}
loss = {k: [] for k in runners}
for name, clean in images.evaluation_images("/work/shared/data/Kodak24", 4):
    h, w = clean.shape[:2]
    clean = clean[h // 2 - 96 : h // 2 + 96, w // 2 - 96 : w // 2 + 96]
    noisy = noise.add_seeded_gaussian_noise(clean, 25, name)
    ref = metrics.psnr_uint8(clean, inference.denoise(model, noisy))
    for k, r in runners.items():
        loss[k].append(metrics.psnr_uint8(clean, r(noisy)) - ref)
print({k: f"{np.mean(v):+.3f} dB" for k, v in loss.items()})
