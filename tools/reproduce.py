"""The CPU-scale reproduction of the paper's high-level findings (CIFAR-10, CamVid), one resumable command.

    python -m tools.reproduce              # or: make reproduce
    python -m tools.reproduce --report_only  # rewrite docs/RESULTS.md from the measured tables

Trains the heads, the separate and joint denoisers for every sigma, ships them to saved_models/reproduce/,
evaluates Tables IV/V-style tables with tools/evaluate_task.py and writes docs/RESULTS.md. Interrupt it
at any time and run it again: finished stages are skipped and unfinished ones resume from their
checkpoints. See keras_semdenoise/reproduction.py for the stages.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the stages run `python -m train.*`, `tools.*` from the repository root

from keras_semdenoise import reproduction  # noqa: E402
from keras_semdenoise.data.roots import default_data_root  # noqa: E402
from keras_semdenoise.config_flags import config_from_flags, define_flags  # noqa: E402

FLAGS = flags.FLAGS
define_flags(reproduction.ReproduceConfig, skip=("python",), data_root={
    "required": False,
    "help": "Folder holding cifar10-jpeg, camvid, CBSD432, CBSD68 (default: ../shared/data or $SEMDENOISE_DATA_DIR).",
})
flags.DEFINE_bool("report_only", False, "Only rewrite the report from the measured tables.")


def main(argv):
    del argv
    os.chdir(REPO)
    try:
        config = config_from_flags(reproduction.ReproduceConfig, FLAGS,
                                   data_root=FLAGS.data_root or default_data_root())
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if FLAGS.report_only:
        print(f"wrote {reproduction.write_report(config)}")
        return
    try:
        reproduction.run(config)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"wrote {config.results_path}")


if __name__ == "__main__":
    app.run(main)
