"""PSNR of TFLite models vs Keras fp32 on the first images of Kodak24 and CBSD68 at sigma 25 (seeded noise).

usage: quality.py N_PER_SET name=path.tflite[:tile] ...  (tile: run through TFLiteDenoiser tiling if supported)
"""

import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np

from keras_semdenoise import metrics, noise
from keras_semdenoise.data import images
from keras_semdenoise.deploy import export, inference

count = int(sys.argv[1])
pairs = []
for s in ("Kodak24", "CBSD68"):
    pairs += [(s, n, c) for n, c in images.evaluation_images(f"/work/shared/data/{s}", count)]
cache = f"/tmp/int8/ref_{count}.npz"
if os.path.exists(cache):
    ref = dict(np.load(cache))
else:
    model = inference.load_denoiser("saved_models/denoiser_sigma25.keras")
    ref = {
        n: metrics.psnr_uint8(c, inference.denoise(model, noise.add_seeded_gaussian_noise(c, 25, n)))
        for _, n, c in pairs
    }
    np.savez(cache, **ref)
print(
    "keras fp32 mean PSNR",
    {s: round(float(np.mean([ref[n] for t, n, _ in pairs if t == s])), 3) for s in ("Kodak24", "CBSD68")},
)
for spec in sys.argv[2:]:
    name, _, arg = spec.partition("=")
    path, _, kw = arg.partition(":")
    kwargs = eval(f"dict({kw})")
    runner = export.TFLiteDenoiser(path, **kwargs)
    loss = {}
    for s, n, c in pairs:
        out = runner(noise.add_seeded_gaussian_noise(c, 25, n))
        loss.setdefault(s, []).append(metrics.psnr_uint8(c, out) - float(ref[n]))
    print(
        name, {s: f"{np.mean(v):+.3f} dB (worst {min(v):+.3f}, {len(v)} images)" for s, v in loss.items()}, flush=True
    )
