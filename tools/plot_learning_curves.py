"""Learning curves (evaluation PSNR vs training steps) of training runs, as one PNG.

    python -m tools.plot_learning_curves --runs runs/sigma25,runs/sigma15 --out docs/learning_curves.png
    python -m tools.plot_learning_curves --runs saved_models/denoiser_sigma15.history.json --out curve.png
    python -m tools.plot_learning_curves --out docs/learning_curves_chained.png \
        --chain 'sigma 25=docs/training/sigma25_s13.history.json@21000+docs/training/sigma25_gpu1.history.json+...'

``--chain LABEL=SPEC`` (repeatable) draws one model's runs one after another at the pixels they saw
(``learning_curves.load_chain``: each run starts from the one before's best checkpoint).
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise.learning_curves import plot, plot_chains

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", [], "Run folders (each with history.json) or shipped <name>.history.json files.")
flags.DEFINE_multi_string("chain", [], "LABEL=A[@START]+B+~C+...: one model's runs in order, drawn at the pixels "
                          "seen (see learning_curves.load_chain); instead of --runs.")
flags.DEFINE_string("out", "docs/learning_curves.png", "Output PNG.")
flags.DEFINE_multi_string("reference", [], "LABEL=DB horizontal reference lines, e.g. 'CBM3D (same 6 images)=31.34'.")


def main(argv):
    del argv
    references = {}
    for spec in FLAGS.reference:
        name, value = spec.rsplit("=", 1)
        references[name] = float(value)
    if FLAGS.chain:
        if FLAGS.runs or references:
            raise app.UsageError("--chain draws on its own: no --runs or --reference with it")
        plot_chains(dict(spec.split("=", 1) for spec in FLAGS.chain), FLAGS.out)
    elif FLAGS.runs:
        plot(FLAGS.runs, FLAGS.out, references)
    else:
        raise app.UsageError("give --runs or --chain")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
