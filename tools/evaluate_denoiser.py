"""PSNR/SSIM tables of denoisers on clean test sets with seeded noise (paper Tables II/III).

    python -m tools.evaluate_denoiser --sets CBSD68,Kodak24 --sigmas 15,25,50 \
        --methods noisy,cbm3d,proposed --out docs/evaluation

Writes <out>/results.json (resumable: rerun the same command after an interruption)
and <out>/results.md. ``--model NAME=PATH`` adds a model; ``{sigma}`` in PATH is
replaced per sigma (a missing file leaves that cell empty). The work is ``evaluation.tables``'s, as for
``semdenoise evaluate``.
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import tables

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "data_root", None, "Folder holding the test sets (default: ../shared/data or $SEMDENOISE_DATA_DIR)."
)
flags.DEFINE_list("sets", ["CBSD68", "Kodak24"], "Test sets (folders under data_root, or paths).")
flags.DEFINE_list("sigmas", ["15", "25", "50"], "Noise levels on the 0..255 scale.")
flags.DEFINE_list(
    "methods",
    ["noisy", "cbm3d", "proposed"],
    "Built-in methods: noisy, cbm3d, proposed (shipped models), proposed_x8 (with x8 self-ensemble).",
)
flags.DEFINE_multi_string("model", [], "NAME=PATH of another .keras denoiser ({sigma} is substituted).")
flags.DEFINE_integer("limit", 0, "Use only the first N images of each set (0: all).")
flags.DEFINE_string("out", "docs/evaluation", "Output folder for results.json and results.md.")
flags.DEFINE_bool("ssim", True, "Also compute SSIM.")
flags.DEFINE_integer("crop_border", 0, "Pixels cut from each edge before measuring (official code: 3).")
flags.DEFINE_integer("tile_size", inference.DEFAULT_TILE_SIZE, "Tile size for model inference.")
flags.DEFINE_enum(
    "precision",
    "fp32",
    ["fp32", "bf16"],
    "Inference precision of our models (bf16: BN folded, mixed_bfloat16; rows named '..., bf16').",
)


def main(argv):
    del argv
    try:
        datasets = tables.load_sets(FLAGS.sets, FLAGS.data_root, FLAGS.limit)
        methods = tables.build_methods(FLAGS.methods, FLAGS.model, FLAGS.tile_size, FLAGS.precision)
        sigmas = [float(s) for s in FLAGS.sigmas]
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    print(tables.write_tables(datasets, sigmas, methods, FLAGS.out, FLAGS.ssim, FLAGS.crop_border))


if __name__ == "__main__":
    app.run(main)
