"""Joint training of a denoiser through a frozen head (paper Sec. III-B; ``train/train_joint.py`` fills
``JointConfig`` from absl flags).

L = L_D + lambda_P L_P + lambda_H L_H (``losses.joint_loss_terms``) with the paper's weights per task
(``tasks.Task``) unless overridden. The step is ``cascade.CascadeTrainer``'s; the data any
``data.sources`` source, ``packed:DIR`` included. Runs are resumable (``runs.backup_callback``).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_semdenoise import atomic, losses, noise, runs
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import sources


@dataclasses.dataclass(kw_only=True)
class JointConfig(sources.TaskDataConfig):
    """Joint training of a denoiser through a frozen head (``train/train_joint.py``: one flag per field)."""

    model_dir: str = setting(help="Run folder; the denoiser is written as denoiser.keras.")
    train_split: str = setting("train", "Training split.")
    head: str = setting(help="Frozen head (.keras from train_head.py).")
    denoiser_init: str | None = setting(None, "Start from this .keras denoiser (separate training; default: fresh).")
    sigma: float = setting(noise.DEFAULT_SIGMA_255, "Noise level on the 0..255 scale.")
    loss_scale: str = setting("paper", "Loss scale: paper (MSE on [0, 1], the paper's lambdas) or official (the "
                              "official Caffe code: 0.5 x summed squared error on 0..255, weight 5e-9 seg / 0 cls, no "
                              "perceptual term, task weight 1). See keras_semdenoise/losses.py.",
                              choices=losses.LOSS_SCALES)
    lambda_d: float | None = setting(None, "Reconstruction weight (default: 1 paper; 5e-9 seg / 0 cls official).")
    lambda_p: float | None = setting(None, "Perceptual weight (default: 0.5 paper; 0 official).")
    lambda_h: float | None = setting(None, "Task weight (default: 0.25 cls / 0.5 seg paper; 1 official).")
    crop_size: int | None = setting(224, "Training crop.")
    batch_size: int = setting(10, "Global batch size.")
    steps: int = setting(1000, "Training steps.")
    learning_rate: float = setting(1e-4, "Adam learning rate.")
    checkpoint_every: int = setting(200, "Steps between resumable checkpoints.")
    strategy: str = setting("auto", "tf.distribute strategy.", choices=("auto", "mirrored", "default"))
    logical_cpus: int = setting(0, "Split the CPU into N logical devices.")
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity.")

    def loss_weights(self) -> losses.JointLossWeights:
        """The weights of ``loss_scale`` for the task, with ``lambda_d`` / ``lambda_p`` / ``lambda_h`` where given."""
        base = losses.JointLossWeights.for_scale(self.task, self.loss_scale)
        given = {name: getattr(self, name) for name in ("lambda_d", "lambda_p", "lambda_h")}
        return dataclasses.replace(base, **{name: value for name, value in given.items() if value is not None})


def run_joint_training(config: JointConfig):
    """Trains the denoiser through the frozen head; writes ``denoiser.keras`` and ``history.json`` in ``model_dir``."""
    import keras

    from keras_semdenoise import inference
    from keras_semdenoise.cascade import CascadeTrainer
    from keras_semdenoise.denoiser import build_denoiser
    from keras_semdenoise.heads import load_head

    noise.check_sigma(config.sigma)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    strategy = runs.backend_strategy(config.strategy, config.logical_cpus)  # None off TensorFlow (JAX: one device)
    split = config.load_split(config.train_split)
    weights = config.loss_weights()
    atomic.write_json(os.path.join(config.model_dir, "config.json"),
                      {**dataclasses.asdict(config), **dataclasses.asdict(weights)},
                      indent=2)
    with runs.strategy_scope(strategy):
        denoiser = inference.load_denoiser(config.denoiser_init) if config.denoiser_init else build_denoiser()
        head = load_head(config.head)
        trainer = CascadeTrainer(denoiser, head, config.task, weights, split.ignore_index)
        trainer.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        trainer(np.zeros((1, 32, 32, 3), "float32"))  # built before BackupAndRestore restores into it
    epochs, interval = runs.fit_intervals(config.steps, config.checkpoint_every)
    history = trainer.fit(
        sources.batches(split, config.batch_size, config.crop_size, training=True, sigma_255=config.sigma,
                        seed=config.seed),
        epochs=epochs,
        steps_per_epoch=interval,
        callbacks=[runs.backup_callback(os.path.join(config.model_dir, "backup"))],
        verbose=config.verbose,
    )
    atomic.save_model(denoiser, os.path.join(config.model_dir, "denoiser.keras"))
    atomic.write_json(os.path.join(config.model_dir, "history.json"),
                      {k: [float(v) for v in values] for k, values in history.history.items()})
    return denoiser
