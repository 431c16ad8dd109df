"""Copy a training run's best weights into saved_models/ as a standalone .keras model.

    python -m tools.ship_model --run runs/sigma25 --name denoiser_sigma25

Also records the run's steps, best evaluation PSNR and machine in saved_models/MODELS.json, and keeps
its configuration and learning curve as saved_models/<name>.history.json; the record of the model it started from
goes to experiments/zoo/records/<its run>.history.json, named in the new record's "previous".
"""

from __future__ import annotations

import os
import platform

from absl import app, flags

from keras_semdenoise.deploy import precision
from keras_semdenoise.models import shipped
from keras_semdenoise.training import ship

FLAGS = flags.FLAGS
flags.DEFINE_string("run", None, "Training run folder (train/train_denoiser.py --model_dir).", required=True)
flags.DEFINE_string("name", None, "Model name, e.g. denoiser_sigma25.", required=True)
flags.DEFINE_string("out_dir", None, "Destination folder (default: the shipped models folder).")
flags.DEFINE_string(
    "hardware",
    f"{os.cpu_count()}-core {precision.cpu_model_name() or platform.machine()} CPU",
    "Hardware the run trained on (default: this machine's CPU, from /proc/cpuinfo).",
)
flags.DEFINE_bool("best", True, "Ship the best-evaluated checkpoint rather than the last.")
flags.DEFINE_string(
    "archive_dir",
    "experiments/zoo/records",
    "Where the record of the model the run started from is kept "
    '(named in the new record\'s "previous"); empty: not kept.',
)


def main(argv):
    del argv
    out_dir = FLAGS.out_dir or shipped.models_dir()
    entry = ship.ship_run(
        FLAGS.run, out_dir, FLAGS.name, FLAGS.hardware, use_best=FLAGS.best, archive_dir=FLAGS.archive_dir or None
    )
    print(f"wrote {os.path.join(out_dir, entry['file'])}: {entry}")


if __name__ == "__main__":
    app.run(main)
