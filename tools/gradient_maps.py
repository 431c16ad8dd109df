"""Gradient maps per loss term (paper Fig. 3): |dL/dx| of reconstruction, perceptual, task and joint loss.

    python -m tools.gradient_maps --task classification --image cat.png --label 3 \
        --head runs/head_cifar/head.keras --denoiser saved_models/denoiser_sigma25.keras \
        --sigma 25 --crop_size 32 --out docs/gradient_maps.png

For segmentation, ``--label`` is a label-map PNG (void = --ignore_index).
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags
from PIL import Image

from keras_semdenoise import atomic, imageio, noise, task_kinds
from keras_semdenoise.deploy import inference
from keras_semdenoise.models.heads import load_head
from keras_semdenoise.training import losses
from keras_semdenoise.training.cascade import CascadeTrainer, input_gradient_maps

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, list(task_kinds.TASKS), "High-level task.", required=True)
flags.DEFINE_string("image", None, "Clean image file.", required=True)
flags.DEFINE_string("label", None, "Class id (classification) or label-map PNG (segmentation).", required=True)
flags.DEFINE_string("head", None, "Frozen head (.keras).", required=True)
flags.DEFINE_string("denoiser", None, "Denoiser (.keras).", required=True)
flags.DEFINE_float("sigma", noise.DEFAULT_SIGMA_255, "Noise level (0..255).")
flags.DEFINE_integer(
    "crop_size", 0, "Resize/crop the image to this square first (classification heads need their input size)."
)
flags.DEFINE_integer("ignore_index", 255, "Segmentation void label.")
flags.DEFINE_string("out", "gradient_maps.png", "Output picture.")

TITLES = {
    "reconstruction": "|dL_D/dx| (MSE)",
    "perceptual": "|dL_P/dx| (relu3_3)",
    "task": "|dL_H/dx| (task)",
    "total": "|dL/dx| (joint)",
}


def gradient_grid(noisy, denoised, maps: dict, out: str, title: str) -> None:
    """One row: noisy | denoised | one normalised gradient map per term; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("noisy input", np.clip(noisy, 0, 1)), ("denoised", np.clip(denoised, 0, 1))]
    panels += [(TITLES[k], maps[k] / max(float(maps[k].max()), 1e-12)) for k in TITLES]
    figure, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), dpi=110)
    for axis, (name, picture) in zip(axes, panels):
        axis.imshow(picture, cmap=None if picture.ndim == 3 else "inferno", vmin=0, vmax=1)
        axis.set_title(name, fontsize=8)
        axis.axis("off")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    atomic.save_figure(figure, out)


def main(argv):
    del argv
    try:
        clean = imageio.load_image(FLAGS.image).pixels
        if FLAGS.crop_size:
            clean = (
                np.asarray(
                    Image.fromarray((clean * 255).round().astype(np.uint8)).resize(
                        (FLAGS.crop_size, FLAGS.crop_size), Image.BICUBIC
                    ),
                    np.float32,
                )
                / 255.0
            )
        if FLAGS.task == "classification":
            labels = np.array([int(FLAGS.label)])
        else:
            labels = np.asarray(Image.open(FLAGS.label), np.int32)[None]
            if labels.shape[1:] != clean.shape[:2]:
                raise ValueError(f"label map {labels.shape[1:]} does not match the image {clean.shape[:2]}")
        head = load_head(FLAGS.head)
        denoiser = inference.load_denoiser(FLAGS.denoiser)
    except (ValueError, FileNotFoundError, imageio.ImageReadError) as error:
        raise app.UsageError(str(error)) from None
    trainer = CascadeTrainer(
        denoiser,
        head,
        FLAGS.task,
        losses.JointLossWeights.paper(FLAGS.task),
        FLAGS.ignore_index if FLAGS.task == "segmentation" else None,
    )
    noisy = noise.add_seeded_gaussian_noise(clean, FLAGS.sigma, task_kinds.noise_name(FLAGS.task, FLAGS.image))
    maps = {k: v[0] for k, v in input_gradient_maps(trainer, noisy[None], clean[None], labels).items()}
    denoised = inference.denoise(denoiser, noisy)
    gradient_grid(
        noisy,
        denoised,
        maps,
        FLAGS.out,
        f"{os.path.basename(FLAGS.image)}, sigma {FLAGS.sigma:g}, "
        f"{FLAGS.task}, denoiser {os.path.basename(FLAGS.denoiser)}",
    )
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
