"""Export a denoiser as a TF Serving SavedModel: <base>/<name>/<version>/ with three signatures.

python -m tools.export_savedmodel --sigma 25 --base exported --name semdenoise
saved_model_cli show --dir exported/semdenoise/1 --all
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise import noise
from keras_semdenoise.deploy import export_files, inference

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras denoiser (default: the shipped model for --sigma).")
flags.DEFINE_float("sigma", noise.DEFAULT_SIGMA_255, "Noise level whose shipped model to export.")
flags.DEFINE_string("base", "exported", "Base folder (TF Serving's --model_base_path is <base>/<name>).")
flags.DEFINE_string("name", "semdenoise", "Model name.")
flags.DEFINE_integer("version", None, "Version number (default: the next free one).")
flags.DEFINE_enum(
    "precision",
    "auto",
    list(inference.PRECISIONS),
    "Served precision: bf16 (mixed_bfloat16 inner layers), fp32, or auto (bf16 where this machine "
    "has it). Batch norm is folded into the convolutions either way.",
)


def main(argv):
    del argv
    try:
        choice, out = export_files.savedmodel(
            FLAGS.model, FLAGS.sigma, FLAGS.base, FLAGS.name, FLAGS.version, FLAGS.precision
        )
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        raise app.UsageError(str(error)) from None
    if choice.notice:
        print(f"note: {choice.notice}")
    print(f"exported {choice.path} ({inference.resolve_precision(FLAGS.precision)}) to {out}")


if __name__ == "__main__":
    app.run(main)
