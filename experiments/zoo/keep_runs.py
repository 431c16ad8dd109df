"""Keep the record (configuration + learning curve) of training runs whose folders are scratch.

    python -m experiments.zoo.keep_runs --runs runs/zoo/cmp_fp32_s35,runs/zoo/cmp_bf16_s35 --out experiments/zoo/records

Writes ``<out>/<run name>.history.json`` for each run (``ship.run_record``), which
``tools.plot_learning_curves`` draws like a run folder.
"""

from __future__ import annotations

import os

from absl import app, flags

from keras_semdenoise import atomic
from keras_semdenoise.training import ship

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Run folders (train/train_denoiser.py --model_dir).", required=True)
flags.DEFINE_string("out", "experiments/zoo/records", "Folder for the records.")


def main(argv):
    del argv
    for run in FLAGS.runs:
        path = os.path.join(FLAGS.out, f"{os.path.basename(os.path.normpath(run))}.history.json")
        atomic.write_json(path, ship.run_record(run), indent=2)
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
