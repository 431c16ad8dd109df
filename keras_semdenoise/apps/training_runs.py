"""The training entry points, one flag library per kind, each flag a field of the kind's config dataclass:
``denoiser`` (``training.separate.TrainConfig``), ``joint`` (``training.joint.JointConfig``) and ``head``
(``training.head_training.HeadConfig``). ``python -m train.train_<kind>`` and ``semdenoise train <kind>`` (which
runs ``python -m keras_semdenoise.apps.training_main <kind> ...``) both use them, so an installed wheel trains
without a checkout.

Flags defined here are the caller's (``flags.disclaim_key_flags``), so each entry point's ``--help`` lists them;
``run`` runs an entry point with one-line errors.
"""

from __future__ import annotations

import sys

from absl import app, flags

from keras_semdenoise.config_flags import define_flags, entry_point, help_text
from keras_semdenoise.data import roots

flags.disclaim_key_flags()
KINDS = ("denoiser", "joint", "head")


def denoiser_values(flag_values=flags.FLAGS) -> dict:
    """The ``TrainConfig`` fields the entry point fills: the data folder defaults to the shared data root's
    CBSD432; a blind run (``--sigma_range`` without ``--sigma``) has no sigma; no evaluation images, no eval_dir."""
    filled = {"data_dir": flag_values.data_dir or roots.default_training_folder()}
    if flag_values.sigma_range and not flag_values["sigma"].present:
        filled["sigma"] = None  # blind training: the default sigma is for per-sigma runs
    if not flag_values.eval_images:
        filled["eval_dir"] = None
    return filled


def denoiser_main(flag_values=flags.FLAGS):
    """Defines the separate-training flags; returns the ``main(argv)`` that trains (``separate.run_training``)."""
    from keras_semdenoise.training import separate

    help_data = help_text(separate.TrainConfig, "data_dir") + " Default: <shared data>/CBSD432."
    define_flags(separate.TrainConfig, flag_values, data_dir={"required": False, "help": help_data})

    values = lambda: denoiser_values(flag_values)
    return entry_point(separate.TrainConfig, separate.run_training, values, flag_values)


def joint_main(flag_values=flags.FLAGS):
    """Defines the joint-training flags; returns the ``main(argv)`` that trains (``joint.run_joint_training``)."""
    from keras_semdenoise.training import joint

    define_flags(joint.JointConfig, flag_values)
    return entry_point(joint.JointConfig, joint.run_joint_training, flag_values=flag_values)


def head_main(flag_values=flags.FLAGS):
    """Defines the head-training flags; returns the ``main(argv)`` that trains (``head_training.run_head_training``)."""
    from keras_semdenoise.training import head_training

    define_flags(head_training.HeadConfig, flag_values)
    values = lambda: {"eval_split": flag_values.eval_split or None}
    return entry_point(head_training.HeadConfig, head_training.run_head_training, values, flag_values)


MAINS = {"denoiser": denoiser_main, "joint": joint_main, "head": head_main}
EXIT_USAGE = 2  # apps.console.EXIT_USAGE


def _usage_exit(problem) -> None:
    """One line (absl lists each missing required flag on a line of its own), exit code 2."""
    print("error: " + "; ".join(line.strip() for line in str(problem).splitlines() if line.strip()), file=sys.stderr)
    sys.exit(EXIT_USAGE)


def run(main, flag_values=flags.FLAGS) -> None:
    """``absl.app.run(main)`` where a bad flag or setting is one line ``error: ...`` on stderr (exit code 2)
    instead of absl's usage text; ``--help`` is absl's (exit code 1, as absl has it)."""

    def parse(argv):
        try:
            return flag_values(argv)
        except flags.Error as problem:
            _usage_exit(problem)

    def main_or_one_line(argv):
        try:
            return main(argv)
        except app.UsageError as problem:
            _usage_exit(problem)

    app.run(main_or_one_line, flags_parser=parse)
