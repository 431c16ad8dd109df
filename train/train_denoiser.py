"""Separate training of the denoiser (MSE, Gaussian noise on the fly), resumable.

Example (paper setting, sigma 25, CBSD432; bf16 where the CPU/GPU has it):
    python -m train.train_denoiser --sigma 25 --steps 20000 --model_dir runs/sigma25

Any Keras backend (the numpy data path is used where TensorFlow is not the backend):
    KERAS_BACKEND=jax python -m train.train_denoiser --data_dir packed:CBSD432.npz ...

Kill it at any time and run the same command again: it resumes from the last checkpoint.
Every flag is a field of ``separate.TrainConfig`` (its default and help are written there).
"""

from __future__ import annotations

import os

from absl import app, flags

from keras_semdenoise.config_flags import define_flags, entry_point, help_text
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.training import separate

FLAGS = flags.FLAGS
define_flags(
    separate.TrainConfig,
    data_dir={
        "required": False,
        "help": help_text(separate.TrainConfig, "data_dir") + " Default: <shared data>/CBSD432.",
    },
)


def denoiser_values() -> dict:
    """The ``TrainConfig`` fields filled here: the data folder defaults to the shared data root's CBSD432."""
    values = {"data_dir": FLAGS.data_dir or os.path.join(default_data_root(), "CBSD432")}
    if FLAGS.sigma_range and not FLAGS["sigma"].present:
        values["sigma"] = None  # blind training: the default sigma is for per-sigma runs
    if not FLAGS.eval_images:
        values["eval_dir"] = None
    return values


main = entry_point(separate.TrainConfig, separate.run_training, denoiser_values)

if __name__ == "__main__":
    app.run(main)
