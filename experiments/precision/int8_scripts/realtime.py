"""Whole-image seconds/megapixel on real images, alternating shapes (as a benchmark over a set does).

Each round runs every method over the same image list (landscape and portrait mixed, so a TFLite
interpreter resizes at each call); medians over rounds; ratios vs keras_bf16.
"""

import os
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf

from keras_semdenoise import noise
from keras_semdenoise.data import images
from keras_semdenoise.deploy import export, inference

pairs = images.evaluation_images("/work/shared/data/Kodak24", 10) + images.evaluation_images(
    "/work/shared/data/CBSD68", 10
)
pick = {}
for n, c in pairs:
    pick.setdefault((c.shape[0] > c.shape[1], c.shape[0] * c.shape[1] > 300000), (n, c))
noisy = [noise.add_seeded_gaussian_noise(c, 25, n) for n, c in pick.values()]
print("shapes", [x.shape for x in noisy])
megapixels = sum(x.shape[0] * x.shape[1] for x in noisy) / 1e6


def keras_fn(precision):
    m = inference.load_denoiser("saved_models/denoiser_sigma25.keras", precision=precision)
    f = tf.function(lambda x: m(x, training=False), jit_compile=False, reduce_retracing=True)
    return lambda x: f(x[None])[0].numpy()


methods = {}
for spec in sys.argv[1:]:
    name, _, arg = spec.partition("=")
    if name.startswith("keras"):
        methods[name] = keras_fn(arg)
    else:
        path, _, kw = arg.partition(":")
        methods[name] = export.TFLiteDenoiser(path, **eval(f"dict({kw})"))
for f in methods.values():
    for x in noisy:
        f(x)
times = {k: [] for k in methods}
print("load before", os.getloadavg())
for _ in range(int(os.environ.get("ROUNDS", 5))):
    for k, f in methods.items():
        t = time.perf_counter()
        for x in noisy:
            f(x)
        times[k].append((time.perf_counter() - t) / megapixels)
print("load after", os.getloadavg())
base = np.median(times.get("keras_bf16", next(iter(times.values()))))
for k, v in times.items():
    print(
        f"{k:16s} {np.median(v):6.2f} s/MP (min {min(v):5.2f})  time ratio vs keras_bf16 {np.median(v) / base:5.2f}  speedup {base / np.median(v):4.2f}x"
    )
