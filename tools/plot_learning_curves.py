"""Learning curves (evaluation PSNR vs training steps) of training runs, as one PNG.

    python -m tools.plot_learning_curves --runs runs/sigma25,runs/sigma15 --out docs/learning_curves.png
    python -m tools.plot_learning_curves --runs saved_models/denoiser_sigma15.history.json --out curve.png
    python -m tools.plot_learning_curves --out docs/learning_curves_chained.png \
        --chain 'sigma 25=experiments/zoo/records/sigma25_s13.history.json@21000+experiments/zoo/records/sigma25_gpu1.history.json+...'

``--chain LABEL=SPEC`` (repeatable) draws one model's runs one after another at the pixels they saw
(``learning_curves.load_chain``: each run starts from the one before's best checkpoint); ``--lineage
LABEL=saved_models/<name>.history.json`` finds those runs itself, through the records' "previous" links:

    python -m tools.plot_learning_curves --out docs/learning_curves_chained.png \
        --lineage 'sigma 25=saved_models/denoiser_sigma25.history.json' ...
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise.training.curves import lineage, plot, plot_chains

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", [], "Run folders (each with history.json) or shipped <name>.history.json files.")
flags.DEFINE_multi_string(
    "chain",
    [],
    "LABEL=A[@START]+B+~C+...: one model's runs in order, drawn at the pixels "
    "seen (see learning_curves.load_chain); instead of --runs.",
)
flags.DEFINE_multi_string(
    "lineage",
    [],
    "LABEL=saved_models/<name>.history.json: a shipped model's whole training, "
    'read back through its records\' "previous" links (learning_curves.lineage), drawn as '
    "a --chain; with --chain or alone.",
)
flags.DEFINE_string("out", "docs/learning_curves.png", "Output PNG.")
flags.DEFINE_multi_string("reference", [], "LABEL=DB horizontal reference lines, e.g. 'CBM3D (same 6 images)=31.34'.")


def main(argv):
    del argv
    references = {}
    for spec in FLAGS.reference:
        name, value = spec.rsplit("=", 1)
        references[name] = float(value)
    if FLAGS.chain or FLAGS.lineage:
        if FLAGS.runs or references:
            raise app.UsageError("--chain and --lineage draw on their own: no --runs or --reference with them")
        chains = dict(spec.split("=", 1) for spec in FLAGS.chain)
        for spec in FLAGS.lineage:
            label, record = spec.split("=", 1)
            chains[label] = lineage(record)
            print(f"{label}: {chains[label]}")
        plot_chains(chains, FLAGS.out)
    elif FLAGS.runs:
        plot(FLAGS.runs, FLAGS.out, references)
    else:
        raise app.UsageError("give --runs, --chain or --lineage")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
