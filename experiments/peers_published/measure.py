"""Measures the published peers (CDnCNN-B, FFDNet colour, their authors' weights) under our protocol and compares
them with a plain forward pass of each file (``evaluation.published_peers``).

    nice -n 10 python -m experiments.peers_published.measure --out docs/peers_published

Writes ``<out>/results.json`` (resumable: rerun after an interruption) and ``<out>/results.md``; exits non-zero
when a figure is more than 0.05 dB from its reference.
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise.evaluation import published_peers, tables

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "data_root", None, "Folder holding the test sets (default: $SEMDENOISE_DATA_DIR or ../shared/data)."
)
flags.DEFINE_string("peers", None, "Folder of the authors' .mat files (default: peers_published/ under the data root).")
flags.DEFINE_list("sets", ["CBSD68", "Kodak24"], "Test sets (folders under data_root, or paths).")
flags.DEFINE_list("sigmas", ["15", "25", "50"], "Noise levels on the 0..255 scale.")
flags.DEFINE_integer("limit", 0, "Use only the first N images of each set (0: all).")
flags.DEFINE_string("out", "docs/peers_published", "Output folder for results.json and results.md.")


def main(argv):
    del argv
    try:
        datasets = tables.load_sets(FLAGS.sets, FLAGS.data_root, FLAGS.limit)
        sigmas = [float(s) for s in FLAGS.sigmas]
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    rows = published_peers.measure_published_peers(datasets, sigmas, FLAGS.out, FLAGS.peers)
    print(published_peers.comparison_markdown(rows))
    if not all(row["within"] for row in rows):
        raise SystemExit(f"a figure is more than {published_peers.TOLERANCE_DB} dB from its reference")


if __name__ == "__main__":
    app.run(main)
