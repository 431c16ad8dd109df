"""The device training step on CPU JAX: drawn batches and their statistics, and a short training run.

    KERAS_BACKEND=jax JAX_PLATFORMS=cpu python tests/device_step_script.py OUT.json

Used by test_training_device_step.py (a subprocess, because the suite runs Keras on TensorFlow). Six smooth
40 x 40 / 40 x 48 / 48 x 40 images in two sources weighted 1 : 3, patches 16 x 16, batch 8, the tiny widths.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from conftest import TINY  # noqa: E402
from PIL import Image  # noqa: E402

from keras_semdenoise.data import patches  # noqa: E402
from keras_semdenoise.models.denoiser import build_denoiser  # noqa: E402
from keras_semdenoise.training import device_step  # noqa: E402

PATCH, BATCH, MANY = 16, 8, 4000


def smooth_image(rng, height, width):
    """A smooth random colour image (uint8): a 5 x 5 grid, bicubic up, so a denoiser can learn it in a few steps."""
    grid = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(grid).resize((width, height), Image.BICUBIC))


rng = np.random.default_rng(0)
first = [smooth_image(rng, 40, 40) for _ in range(3)]
second = [smooth_image(rng, 40, 48), smooth_image(rng, 48, 40), smooth_image(rng, 40, 40)]
images = device_step.device_images([first, second], [1.0, 3.0])
trainer = device_step.DeviceStep(build_denoiser(**TINY), images, PATCH, BATCH, sigma_255=25.0, learning_rate=3e-3)
report = {"backend": jax.default_backend()}

batch = {k: np.asarray(v) for k, v in trainer.draw(jax.random.key(1)).items()}
report["shapes"] = {k: list(v.shape) for k, v in batch.items()}
report["dtypes"] = {k: str(v.dtype) for k, v in batch.items()}
report["clean_range"] = [float(batch["clean"].min()), float(batch["clean"].max())]


def host_patch(n):
    """The host definition's patch (``patches.dihedral`` of the crop) of batch item ``n``'s draws."""
    top, left = batch["top"][n], batch["left"][n]
    crop = images.pixels[batch["image"][n], top : top + PATCH, left : left + PATCH]
    return patches.dihedral(crop, int(batch["dihedral"][n])) / np.float32(255.0)


report["patch_error_to_host_definition"] = float(
    max(np.abs(batch["clean"][n] - host_patch(n)).max() for n in range(BATCH))
)

for name, kwargs in (("fixed", dict(sigma_255=25.0)), ("range", dict(sigma_range_255=(5.0, 50.0)))):
    draw = jax.jit(lambda key, kw=kwargs: device_step.draw_batch(key, trainer.images, PATCH, MANY, **kw))
    many = {k: np.asarray(v) for k, v in draw(jax.random.key(2)).items()}
    heights, widths = images.heights[many["image"]], images.widths[many["image"]]
    report[name] = {
        "dihedral_frequencies": np.bincount(many["dihedral"], minlength=8).tolist(),
        "image_frequencies": np.bincount(many["image"], minlength=len(images.heights)).tolist(),
        "noise_std_over_sigma": float(
            255.0 * np.std(many["noisy"] - many["clean"]) / np.sqrt(np.mean(many["sigma_255"] ** 2))
        ),
        "sigma_range": [float(many["sigma_255"].min()), float(many["sigma_255"].max())],
        "sigma_mean": float(many["sigma_255"].mean()),
        "tops_seen": sorted(set(many["top"][heights == 40].tolist())),
        "lefts_seen_48": sorted(set(many["left"][widths == 48].tolist())),
        "crops_inside": bool(((many["top"] + PATCH <= heights) & (many["left"] + PATCH <= widths)).all()),
    }
report["probabilities"] = images.probabilities.tolist()

state = trainer.initial_state()
initial = trainer.model.get_weights()
state, losses = trainer.train(state, 20, seed=0)
report["losses"] = losses.tolist()
grouped = device_step.DeviceStep(
    build_denoiser(**TINY), images, PATCH, BATCH, sigma_255=25.0, learning_rate=3e-3, steps_per_call=5
)
grouped.model.set_weights(initial)
report["losses_5_per_call"] = grouped.train(grouped.initial_state(), 10, seed=0)[1].tolist()
trainer.write_back(state)
report["weights_changed"] = any(not np.allclose(a, b) for a, b in zip(initial, trainer.model.get_weights()))

timing = device_step.draw_and_step_seconds(trainer, repeats=2)
report["timing"] = {k: timing[k] for k in ("draw_seconds", "step_seconds", "draw_share")}

with open(sys.argv[1], "w") as handle:
    json.dump(report, handle)
