"""Separate training of the denoiser (MSE, Gaussian noise on the fly), resumable.

Example (paper setting, sigma 25, CBSD432; bf16 where the CPU/GPU has it):
    python -m train.train_denoiser --sigma 25 --steps 20000 --model_dir runs/sigma25

Any Keras backend (the numpy data path is used where TensorFlow is not the backend):
    KERAS_BACKEND=jax python -m train.train_denoiser --data_dir packed:CBSD432.npz ...

Kill it at any time and run the same command again: it resumes from the last checkpoint.
"""

from __future__ import annotations

import logging

from absl import app, flags

from keras_semdenoise import training
from train.flag_config import config_from_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Training images: DIR[:WEIGHT],DIR[:WEIGHT],... (folders or packed:FILE.npz; "
                    "default: <shared data>/CBSD432).")
flags.DEFINE_string("model_dir", None, "Run folder: checkpoints, logs, final model.", required=True)
flags.DEFINE_float("sigma", None, "Noise level on the 0..255 scale (one model per sigma).")
flags.DEFINE_list("sigma_range", None, "low,high: blind training, sigma drawn per patch.")
flags.DEFINE_integer("steps", 1000, "Training steps (batches).")
flags.DEFINE_integer("batch_size", 32, "Global batch size (paper: 32).")
flags.DEFINE_integer("patch_size", 48, "Patch side in pixels (paper: 48).")
flags.DEFINE_float("learning_rate", 1e-3, "Peak Adam learning rate.")
flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "step", "constant"], "Learning-rate schedule.")
flags.DEFINE_integer("warmup_steps", 100, "Linear warm-up steps (cosine schedule).")
flags.DEFINE_float("min_lr_ratio", 0.01, "Final learning rate as a fraction of the peak (cosine).")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between checkpoints (and evaluations).")
flags.DEFINE_string("eval_dir", None, "Clean images for PSNR at each checkpoint (default: the held-out validation "
                    "images of the training data; never a test set).")
flags.DEFINE_integer("eval_images", 16, "How many eval images (0: no evaluation).")
flags.DEFINE_boolean("holdout", True, "Leave the 16 validation images (data/patches.VALIDATION_IDS) out of training.")
flags.DEFINE_enum("dtype_policy", "auto", ["auto", "float32", "mixed_bfloat16"],
                  "Compute precision; auto: mixed_bfloat16 where the CPU/GPU has native bf16.")
flags.DEFINE_enum("pipeline", "auto", ["auto", "tf_data", "numpy"],
                  "Data path; auto: tf.data on the TensorFlow backend, numpy PyDataset on others.")
flags.DEFINE_float("eval_sigma", None, "Noise level for evaluation (default: --sigma, or 25).")
flags.DEFINE_enum("strategy", "auto", ["auto", "mirrored", "default"], "tf.distribute strategy.")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into N logical devices (tests the mirrored path).")
flags.DEFINE_integer("num_scales", 3, "Scales of the denoiser, 2..4.")
flags.DEFINE_integer("stem_filters", 64, "conv0 width.")
flags.DEFINE_list("encoder_filters", ["128", "128"], "Encoder widths (num_scales - 1).")
flags.DEFINE_list("decoder_filters", ["256"], "Decoder widths (num_scales - 2).")
flags.DEFINE_string("init_weights", None, "Start from these weights (e.g. another sigma's model).")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 1 progress bar, 2 one line per checkpoint.")


def denoiser_config() -> training.TrainConfig:
    """Every TrainConfig field comes from the flag of the same name; defaults for paths and sigma here."""
    import os

    root = training.default_data_root()
    values = {}
    values["sigma_range"] = tuple(float(v) for v in FLAGS.sigma_range) if FLAGS.sigma_range else None
    if FLAGS.sigma is None and values["sigma_range"] is None:
        values["sigma"] = 25.0
    values["data_dir"] = FLAGS.data_dir or os.path.join(root, "CBSD432")
    values["eval_dir"] = FLAGS.eval_dir if FLAGS.eval_images else None
    values["encoder_filters"] = tuple(int(v) for v in FLAGS.encoder_filters)
    values["decoder_filters"] = tuple(int(v) for v in FLAGS.decoder_filters)
    return config_from_flags(training.TrainConfig, FLAGS, **values)


def main(argv):
    del argv
    logging.getLogger().setLevel(logging.INFO)
    try:
        config = denoiser_config()
        training.run_training(config)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None


if __name__ == "__main__":
    app.run(main)
