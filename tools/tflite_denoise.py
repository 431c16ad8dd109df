"""Edge demo: denoise image files with a TFLite model (ai-edge-litert), no TensorFlow needed at run time.

python -m tools.tflite_denoise --model exported/tflite/denoiser_sigma25_int8.tflite photo.png --out out/
"""

from __future__ import annotations

import os
import time

from absl import app, flags

from keras_semdenoise import imageio
from keras_semdenoise.deploy.export import TFLiteDenoiser

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .tflite denoiser.", required=True)
flags.DEFINE_string("out", "tflite_output", "Output folder.")
flags.DEFINE_integer("threads", 2, "Interpreter threads.")


def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give one or more image files")
    try:
        denoiser = TFLiteDenoiser(FLAGS.model, FLAGS.threads)
    except (FileNotFoundError, ValueError) as error:
        raise app.UsageError(str(error)) from None
    failed = 0
    for path in paths:
        try:
            image = imageio.load_image(path).pixels
        except imageio.ImageReadError as error:
            print(f"error: {error}")
            failed += 1
            continue
        start = time.perf_counter()
        result = denoiser(image)
        seconds = time.perf_counter() - start
        out = os.path.join(FLAGS.out, os.path.splitext(os.path.basename(path))[0] + "_denoised.png")
        imageio.save_png(out, result)
        print(f"{path} -> {out} ({image.shape[1]}x{image.shape[0]}, {seconds:.2f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    app.run(main)
