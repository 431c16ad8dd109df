"""How fast the shipped models' validation curves still rise, and what that says of the zoo's targets.

    python -m experiments.probes.curve_slopes                      # the five shipped models -> experiments/probes/curve_slopes_results/
    python -m experiments.probes.curve_slopes --record 'sigma 25=saved_models/denoiser_sigma25.history.json' --out /tmp/s

Each model's whole training is read back through its records' "previous" links (``curves.lineage``);
its gain in validation PSNR per doubling of the pixels seen is measured over the last run, the last two and the
whole lineage (``progress.gain_per_doubling``), and each target it misses (``targets``: the
paper, CBM3D + 0.3 dB, the blind model within 0.2 dB) is priced in doublings and step-equivalents at the slope
of the last two runs. Writes ``results.json`` and ``results.md``. Reads only JSON: no model runs.
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from experiments.probes import progress, targets
from keras_semdenoise import atomic
from keras_semdenoise.training import curves

SHIPPED = [f"sigma {s}=saved_models/denoiser_sigma{s}.history.json" for s in (15, 25, 35, 50)] + [
    "blind=saved_models/denoiser_blind.history.json"
]

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("record", SHIPPED, "LABEL=<name>.history.json of a shipped model (repeatable).")
flags.DEFINE_string(
    "results", "docs/evaluation/results.json", "The evaluation whose shortfalls are priced ('' for the slopes alone)."
)
flags.DEFINE_list("windows", ["1", "2", "0"], "Windows of runs to measure the slope over (0: the whole lineage).")
flags.DEFINE_integer("decide_on", 2, "The window (runs) that decides 'flat' and prices the targets.")
flags.DEFINE_string("out", "experiments/probes/curve_slopes_results", "Output folder (results.json, results.md).")


def main(argv):
    del argv
    state = None
    if FLAGS.results:
        with open(FLAGS.results) as handle:
            state = json.load(handle)
    chains, shortfalls = {}, {}
    try:
        for spec in FLAGS.record:
            label, sep, record = spec.partition("=")
            if not sep:
                raise ValueError(f"--record {spec!r}: give LABEL=<name>.history.json")
            chains[label] = curves.lineage(record)
            with open(record) as handle:
                config = json.load(handle)["config"]
            if state is not None:
                shortfalls[label] = targets.shortfalls(
                    state, config.get("sigma") if not config.get("sigma_range") else None
                )
        report = progress.progress_report(chains, shortfalls, tuple(int(w) for w in FLAGS.windows), FLAGS.decide_on)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    os.makedirs(FLAGS.out, exist_ok=True)
    atomic.write_json(os.path.join(FLAGS.out, "results.json"), report)
    text = progress.progress_markdown(report)
    atomic.write_text(os.path.join(FLAGS.out, "results.md"), text)
    print(text)


if __name__ == "__main__":
    app.run(main)
