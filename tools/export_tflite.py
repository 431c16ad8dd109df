"""Export a denoiser to TFLite (fp32, fp16, full-integer int8) with a dynamic H x W input.

python -m tools.export_tflite --sigma 25 --precisions fp32,fp16,int8 --out_dir exported/tflite
"""

from __future__ import annotations

import os

from absl import app, flags

from keras_semdenoise import noise
from keras_semdenoise.deploy import export, export_files

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras denoiser (default: the shipped model for --sigma).")
flags.DEFINE_float("sigma", noise.DEFAULT_SIGMA_255, "Noise level: picks the shipped model and the calibration noise.")
flags.DEFINE_list("precisions", list(export.TFLITE_PRECISIONS), "fp32, fp16, int8.")
flags.DEFINE_string("out_dir", "exported/tflite", "Output folder: <name>_<precision>.tflite.")
flags.DEFINE_string("calibration_dir", None, "Training images for int8 calibration (default: CBSD432).")
flags.DEFINE_integer("calibration_patches", export.CALIBRATION_PATCHES, "Noisy 64x64 patches used to calibrate int8.")


def main(argv):
    del argv
    try:
        choice, written = export_files.tflite(
            FLAGS.model, FLAGS.sigma, FLAGS.out_dir, FLAGS.precisions, FLAGS.calibration_dir, FLAGS.calibration_patches
        )
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    if choice.notice:
        print(f"note: {choice.notice}")
    for out in written:
        print(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB)")


if __name__ == "__main__":
    app.run(main)
