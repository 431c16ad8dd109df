"""The CPU-scale reproduction of the paper's high-level findings (CIFAR-10, CamVid), one resumable command.

    python -m tools.reproduce              # or: make reproduce
    python -m tools.reproduce --report_only  # rewrite docs/RESULTS.md from the measured tables

Trains the heads, the separate and joint denoisers for every sigma, ships them to saved_models/reproduce/,
evaluates Tables IV/V-style tables with tools/evaluate_task.py and writes docs/RESULTS.md. Interrupt it
at any time and run it again: finished stages are skipped and unfinished ones resume from their
checkpoints. See keras_semdenoise/reproduction.py for the stages.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the stages run `python -m train.*`, `tools.*` from the repository root

from keras_semdenoise import reproduction, training  # noqa: E402
from train.flag_config import config_from_flags  # noqa: E402

FLAGS = flags.FLAGS
_DEFAULTS = reproduction.ReproduceConfig(data_root="")
for _field in dataclasses.fields(reproduction.ReproduceConfig):
    if _field.name in ("data_root", "python"):
        continue
    _default = getattr(_DEFAULTS, _field.name)
    _help = f"See ReproduceConfig.{_field.name}."
    if isinstance(_default, tuple):
        flags.DEFINE_list(_field.name, [f"{v:g}" if isinstance(v, float) else str(v) for v in _default], _help)
    elif isinstance(_default, bool):
        flags.DEFINE_bool(_field.name, _default, _help)
    elif isinstance(_default, int):
        flags.DEFINE_integer(_field.name, _default, _help)
    elif isinstance(_default, float):
        flags.DEFINE_float(_field.name, _default, _help)
    else:
        flags.DEFINE_string(_field.name, _default, _help)
flags.DEFINE_string("data_root", None, "Folder holding cifar10-jpeg, camvid, CBSD432, CBSD68 "
                    "(default: ../shared/data or $SEMDENOISE_DATA_DIR).")
flags.DEFINE_bool("report_only", False, "Only rewrite the report from the measured tables.")


def main(argv):
    del argv
    os.chdir(REPO)
    try:
        config = config_from_flags(reproduction.ReproduceConfig, FLAGS,
                                   data_root=FLAGS.data_root or training.default_data_root())
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
