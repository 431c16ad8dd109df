"""The CPU-scale reproduction of the paper's high-level findings (CIFAR-10, CamVid), one resumable command.

    python -m experiments.reproduce --flagfile=experiments/reproduce/full_scale.flags  # or: make reproduce (docs/RESULTS.md)
    python -m experiments.reproduce                # the reduced-width run (make reproduce-reduced; docs/RESULTS_reduced.md)
    python -m experiments.reproduce --report_only  # rewrite the report from the measured tables
    python -m experiments.reproduce --list         # each stage: done, how far its run is, or to do
    python -m experiments.reproduce --stamp_only   # stamp the outputs made before stamps (before replacing a head)

Trains the heads, the separate and joint denoisers for every sigma, ships them to experiments/reproduce/models_reduced/,
evaluates Tables IV/V-style tables and writes the report (``--results_path``). Interrupt it at any time and run it again:
finished stages are skipped and unfinished ones resume from their checkpoints. Every flag is a field of
``experiments/reproduce/config.py``'s ``ReproduceConfig``; ``experiments/reproduce/stages.py`` has the stages.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from experiments.reproduce import ReproduceConfig, plan, run, write_report
from experiments.reproduce.stages import adopt_stamps, stage_state
from keras_semdenoise.config_flags import config_from_flags, define_flags
from keras_semdenoise.data.roots import default_data_root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
define_flags(
    ReproduceConfig,
    data_root={
        "required": False,
        "help": "Folder holding cifar10-jpeg, camvid, CBSD432, CBSD68 (default: ../shared/data or $SEMDENOISE_DATA_DIR).",
    },
)
flags.DEFINE_bool("report_only", False, "Only rewrite the report from the measured tables.")
flags.DEFINE_bool("list", False, "Print each stage's state (done, how far, to do) and exit.")
flags.DEFINE_bool(
    "stamp_only",
    False,
    "Stamp the outputs made before stamps were written with the models there "
    "now, and exit (a run does it too; do it before replacing a head by hand).",
)


def main(argv):
    del argv
    os.chdir(REPO)  # the default folders (runs/, experiments/reproduce/, docs/) are the repository's
    try:
        config = config_from_flags(ReproduceConfig, FLAGS, data_root=FLAGS.data_root or default_data_root())
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if FLAGS.list:
        for stage in plan(config):
            print(f"{stage.name:24s} {stage_state(stage)}")
        return
    if FLAGS.stamp_only:
        print("stamped: " + (", ".join(adopt_stamps(config)) or "nothing (every output has its stamp)"))
        return
    if FLAGS.report_only:
        print(f"wrote {write_report(config)}")
        return
    try:
        run(config)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"wrote {config.results_path}")


if __name__ == "__main__":
    app.run(main)
