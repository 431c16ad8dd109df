"""Flat colour patches plus noise through each denoiser (``evaluation.flat_colours``): a table of the error left.

    python -m tools.evaluate_flat_colours --sigma 25 \
        --model 'Proposed (ours)=saved_models/denoiser_sigma25.keras' \
        --model 'FFDNet-style (trained here)=saved_models/peers/ffdnet_style_sigma25.keras' --out docs/flat_colours

Writes ``<out>/results.json``, ``<out>/results.md`` and ``<out>/patches.png`` (the patches themselves).
"""

from __future__ import annotations

import os

from absl import app, flags

from keras_semdenoise import atomic, evaluation
from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import flat_colours

FLAGS = flags.FLAGS
flags.DEFINE_float("sigma", 25.0, "Noise level on the 0..255 scale.")
flags.DEFINE_multi_string("model", [], "'name=path/to/model.keras' (repeat for several).")
flags.DEFINE_enum("precision", "fp32", list(inference.PRECISIONS), "Inference precision.")
flags.DEFINE_string("out", "docs/flat_colours", "Output folder.")


def _parse(entries: list[str]) -> dict[str, str]:
    try:
        models = evaluation.named_models(entries)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if not models:
        raise app.UsageError("give at least one --model 'name=path'")
    return models


def main(argv):
    del argv
    models = _parse(FLAGS.model)
    patches = {
        name: flat_colours.flat_colour_patches(inference.load_denoiser(path, FLAGS.precision), FLAGS.sigma)
        for name, path in models.items()
    }
    results = {name: flat_colours.errors(found) for name, found in patches.items()}
    atomic.write_json(
        os.path.join(FLAGS.out, "results.json"),
        {"sigma_255": FLAGS.sigma, "precision": FLAGS.precision, "models": models, "results": results},
    )
    table = flat_colours.markdown(results, FLAGS.sigma)
    atomic.write_text(
        os.path.join(FLAGS.out, "results.md"), "# Flat colours\n\n" + table + "\n![the patches](patches.png)\n"
    )
    atomic.save_figure(flat_colours.figure(patches, FLAGS.sigma), os.path.join(FLAGS.out, "patches.png"), dpi=80)
    print(table)


if __name__ == "__main__":
    app.run(main)
