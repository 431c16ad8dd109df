"""PSNR/SSIM tables of denoisers on clean test sets with seeded noise (paper Tables II/III).

    python -m tools.evaluate_denoiser --sets CBSD68,Kodak24 --sigmas 15,25,50 \
        --methods noisy,cbm3d,proposed --out docs/evaluation

Writes <out>/results.json (resumable: rerun the same command after an interruption)
and <out>/results.md. ``--model NAME=PATH`` adds a model; ``{sigma}`` in PATH is
replaced per sigma (a missing file leaves that cell empty).
"""

from __future__ import annotations

import functools
import os

from absl import app, flags

from keras_semdenoise import atomic, evaluation
from keras_semdenoise.data import images as image_data
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import cbm3d
from keras_semdenoise.evaluation.denoising import NOISY_METHOD
from keras_semdenoise.models import shipped

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


@functools.cache
def _model(path: str, precision: str = "fp32"):
    return inference.load_denoiser(path, precision=precision)


def model_method(path_pattern: str, tile_size: int, self_ensemble: bool = False, precision: str = "fp32"):
    """Factory: sigma -> method running the model at ``path_pattern`` (None if that file is missing)."""

    def factory(sigma):
        path = path_pattern.replace("{sigma}", f"{sigma:g}")
        if not os.path.exists(path):
            return None
        return evaluation.with_identity(
            evaluation.denoiser_method(_model(path, precision), tile_size, self_ensemble),
            evaluation.file_identity(path)
            + (" x8" if self_ensemble else "")
            + (f" {precision}" if precision != "fp32" else ""),
        )

    return factory


def build_methods(names, extra_models, tile_size, precision="fp32"):
    suffix = f", {precision}" if precision != "fp32" else ""
    methods = {}
    for name in names:
        if name == "noisy":
            methods[NOISY_METHOD] = lambda sigma: lambda noisy, _sigma: noisy
        elif name == "cbm3d":
            methods["CBM3D"] = lambda sigma: cbm3d.cbm3d_denoise
        elif name in ("proposed", "proposed_x8"):
            ours = shipped.shipped_models()
            ensemble = name == "proposed_x8"
            title = "Proposed (ours, x8 self-ensemble" if ensemble else "Proposed (ours"
            methods[f"{title}{suffix})"] = lambda sigma, ensemble=ensemble, ours=ours: (
                model_method(ours[sigma], tile_size, ensemble, precision)(sigma) if sigma in ours else None
            )
        else:
            raise ValueError(f"unknown method {name!r}: use noisy, cbm3d, proposed, proposed_x8 or --model NAME=PATH")
    for name, path in evaluation.named_models(extra_models, sigma_template=True).items():
        methods[name + (f" ({precision})" if suffix else "")] = model_method(path, tile_size, precision=precision)
    return methods


def main(argv):
    del argv
    root = FLAGS.data_root or default_data_root()
    try:
        sigmas = [float(s) for s in FLAGS.sigmas]
        datasets = {
            os.path.basename(os.path.normpath(s)): image_data.evaluation_images(
                s if os.path.isdir(s) else os.path.join(root, s), FLAGS.limit or None
            )
            for s in FLAGS.sets
        }
        methods = build_methods(FLAGS.methods, FLAGS.model, FLAGS.tile_size, FLAGS.precision)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    os.makedirs(FLAGS.out, exist_ok=True)
    state = evaluation.evaluate(
        datasets, sigmas, methods, os.path.join(FLAGS.out, "results.json"), FLAGS.ssim, FLAGS.crop_border
    )
    table = evaluation.markdown_tables(state)
    atomic.write_text(os.path.join(FLAGS.out, "results.md"), table + "\n")
    print(table)


if __name__ == "__main__":
    app.run(main)
