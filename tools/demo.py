"""`make demo`: noise a real photo shipped with scikit-image, denoise it with the shipped model.

Writes <out>/clean.png, noisy.png, denoised.png and side_by_side.png (with PSNRs).
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw

from keras_semdenoise import atomic, imageio, metrics, noise
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import shipped

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "demo_output", "Output folder.")
flags.DEFINE_float("sigma", noise.DEFAULT_SIGMA_255, "Noise level on the 0..255 scale.")
flags.DEFINE_string("model", None, "A .keras denoiser (default: the shipped model for --sigma).")


def demo_photo() -> tuple[str, np.ndarray]:
    """scikit-image's astronaut (512x512 RGB, public domain, shipped in the wheel) as float32 [0, 1]."""
    import skimage.data

    return "astronaut", skimage.data.astronaut().astype(np.float32) / 255.0


def side_by_side(panels: list[tuple[str, np.ndarray]], gap: int = 8, label_height: int = 28) -> Image.Image:
    """Panels (title, (H, W, 3) float image) left to right on white, each titled above."""
    height, width = panels[0][1].shape[:2]
    canvas = Image.new("RGB", (len(panels) * width + (len(panels) - 1) * gap, height + label_height), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (title, image) in enumerate(panels):
        x = index * (width + gap)
        canvas.paste(Image.fromarray(metrics.to_uint8(image)), (x, label_height))
        draw.text((x + 6, 7), title, fill="black", font_size=16)
    return canvas


def main(argv):
    del argv
    name, clean = demo_photo()
    try:
        sigma = noise.check_sigma(FLAGS.sigma)
        path, notice = (FLAGS.model, None) if FLAGS.model else shipped.shipped_model_for_sigma(sigma)
        model = inference.load_denoiser(path)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    if notice:
        print(f"note: {notice}")
    noisy = noise.add_seeded_gaussian_noise(clean, sigma, name)
    denoised = inference.denoise(model, noisy)
    psnr_noisy = metrics.psnr_uint8(clean, noisy)
    psnr_denoised = metrics.psnr_uint8(clean, denoised)
    os.makedirs(FLAGS.out, exist_ok=True)
    for label, image in (("clean", clean), ("noisy", noisy), ("denoised", denoised)):
        imageio.save_png(os.path.join(FLAGS.out, f"{label}.png"), image)
    picture = side_by_side(
        [
            (f"noisy, sigma {sigma:g}: {psnr_noisy:.2f} dB", noisy),
            (f"denoised ({os.path.basename(path)}): {psnr_denoised:.2f} dB", denoised),
            ("clean", clean),
        ]
    )
    atomic.write_with(os.path.join(FLAGS.out, "side_by_side.png"), lambda tmp: picture.save(tmp, format="PNG"))
    print(f"{name}, sigma {sigma:g}: noisy {psnr_noisy:.2f} dB -> denoised {psnr_denoised:.2f} dB")
    print(f"wrote {FLAGS.out}/noisy.png, denoised.png, clean.png, side_by_side.png")


if __name__ == "__main__":
    app.run(main)
