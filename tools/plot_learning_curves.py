"""Learning curves (evaluation PSNR vs training steps) of training runs, as one PNG.

    python -m tools.plot_learning_curves --runs runs/sigma25,runs/sigma15 --out docs/learning_curves.png
    python -m tools.plot_learning_curves --runs saved_models/denoiser_sigma15.history.json --out curve.png
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise.learning_curves import plot

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Run folders (each with history.json) or shipped <name>.history.json files.",
                  required=True)
flags.DEFINE_string("out", "docs/learning_curves.png", "Output PNG.")
flags.DEFINE_multi_string("reference", [], "LABEL=DB horizontal reference lines, e.g. 'CBM3D (same 6 images)=31.34'.")


def main(argv):
    del argv
    references = {}
    for spec in FLAGS.reference:
        name, value = spec.rsplit("=", 1)
        references[name] = float(value)
    plot(FLAGS.runs, FLAGS.out, references)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
