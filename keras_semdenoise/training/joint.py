"""Joint training of a denoiser through a frozen head (paper Sec. III-B; ``train/train_joint.py`` fills
``JointConfig`` from absl flags).

L = L_D + lambda_P L_P + lambda_H L_H (``losses.joint_loss_terms``) with the paper's weights per task
(``tasks.Task``) unless overridden. The step is ``cascade.CascadeTrainer``'s; the data any
``data.sources`` source, ``packed:DIR`` included, and any split of it, sliced or not (``data.splits``).
Runs are resumable (``runs.backup_callback``).

Each checkpoint (``checkpoint_every`` steps) appends a record to ``history.json`` at once (step, time, the
train losses), so a resumed run keeps its curve. With ``val_split`` the record also holds the denoiser +
frozen head on the validation images (the task metric and the PSNR of the denoised inputs, with the
evaluation's seeded noise at ``sigma``: ``evaluation.tasks.evaluate_head``), the starting denoiser is
recorded first as step 0, the best checkpoint by the task metric is kept in ``best.weights.h5``, and that
checkpoint, not the last one, is shipped as ``denoiser.keras``. Test splits are for reporting only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import numpy as np

from keras_semdenoise import atomic, noise
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import sources, splits
from keras_semdenoise.deploy import graph_transforms, precision
from keras_semdenoise.evaluation.intervals import validation_metric
from keras_semdenoise.task_kinds import CLASSIFICATION
from keras_semdenoise.training import losses, runs

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True)
class JointConfig(sources.TaskDataConfig):
    """Joint training of a denoiser through a frozen head (``train/train_joint.py``: one flag per field)."""

    model_dir: str = setting(help="Run folder; the denoiser is written as denoiser.keras.")
    train_split: str = setting(
        "train",
        "Training split; a slice of one, tfds-style, keeps the rest for validation "
        "(train[:-5000]: keras_semdenoise/data/splits.py).",
    )
    val_split: str | None = setting(
        None,
        "Validation split, measured at step 0 and every checkpoint; the best "
        "checkpoint by its task metric is shipped. E.g. 'train[-5000:]' for CIFAR-10 "
        "(with --train_split='train[:-5000]'), 'val' for CamVid. Never a test "
        "split. Default: none (the last weights are shipped).",
    )
    val_images: int = setting(500, "Validation images per checkpoint (0: the whole split; whole batches).")
    val_crop: int | None = setting(
        None,
        "Validation input size / crop (default: crop_size for classification, "
        "whole images for segmentation; 0: whole images).",
    )
    head: str = setting(help="Frozen head (.keras from train_head.py).")
    denoiser_init: str | None = setting(None, "Start from this .keras denoiser (separate training; default: fresh).")
    sigma: float = setting(noise.DEFAULT_SIGMA_255, "Noise level on the 0..255 scale.")
    loss_scale: str = setting(
        "paper",
        "Loss scale: paper (MSE on [0, 1], the paper's lambdas) or official (the "
        "official Caffe code: 0.5 x summed squared error on 0..255, weight 5e-9 seg / 0 cls, no "
        "perceptual term, task weight 1). See keras_semdenoise/training/losses.py.",
        choices=losses.LOSS_SCALES,
    )
    loss_scale_file: str | None = setting(
        None,
        "JSON file whose 'chosen' maps each task to a loss scale (written by "
        "experiments.reproduce's choose_loss_scale stage); its scale for this task "
        "replaces loss_scale.",
    )
    lambda_d: float | None = setting(None, "Reconstruction weight (default: 1 paper; 5e-9 seg / 0 cls official).")
    lambda_p: float | None = setting(None, "Perceptual weight (default: 0.5 paper; 0 official).")
    lambda_h: float | None = setting(None, "Task weight (default: 0.25 cls / 0.5 seg paper; 1 official).")
    crop_size: int | None = setting(224, "Training crop.")
    batch_size: int = setting(10, "Global batch size.")
    steps: int = setting(1000, "Training steps.")
    learning_rate: float = setting(1e-4, "Adam learning rate.")
    checkpoint_every: int = setting(200, "Steps between resumable checkpoints.")
    dtype_policy: str = setting(
        "auto",
        "Compute precision of the denoiser and the frozen head; auto: "
        "mixed_bfloat16 where the CPU/GPU has native bf16 (losses in float32; the "
        "shipped denoiser.keras is float32 either way).",
        choices=("auto", *precision.POLICIES),
    )
    strategy: str = setting("auto", "tf.distribute strategy.", choices=("auto", "mirrored", "default"))
    logical_cpus: int = setting(0, "Split the CPU into N logical devices.")
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity.")

    def resolved_loss_scale(self) -> str:
        """``loss_scale``, or the scale ``loss_scale_file`` chose for the task."""
        if not self.loss_scale_file:
            return self.loss_scale
        if not os.path.exists(self.loss_scale_file):
            raise FileNotFoundError(f"loss scale file not found: {self.loss_scale_file}")
        with open(self.loss_scale_file) as handle:
            chosen = json.load(handle).get("chosen", {})
        if self.task not in chosen:
            raise ValueError(
                f"{self.loss_scale_file} chooses no loss scale for {self.task} (it has {', '.join(chosen) or 'none'})"
            )
        return chosen[self.task]

    def loss_weights(self) -> losses.JointLossWeights:
        """The weights of the loss scale (``resolved_loss_scale``) for the task, with ``lambda_d`` /
        ``lambda_p`` / ``lambda_h`` where given."""
        base = losses.JointLossWeights.for_scale(self.task, self.resolved_loss_scale())
        given = {name: getattr(self, name) for name in ("lambda_d", "lambda_p", "lambda_h")}
        return dataclasses.replace(base, **{name: value for name, value in given.items() if value is not None})

    def check_splits(self) -> None:
        """Raises ValueError for a validation split that is a test split or holds training images by name."""
        splits.check_validation(self.train_split, self.val_split)

    def validation_crop(self) -> int | None:
        """The validation crop: ``val_crop``, else ``crop_size`` (classification) or None (segmentation)."""
        if self.val_crop is not None:
            return self.val_crop or None
        return self.crop_size if self.task == CLASSIFICATION.name else None


def validate(config: JointConfig, denoiser, head, split) -> dict:
    """The denoiser + frozen head on the first ``val_images`` images of ``split``, as the task evaluation
    measures a setting (its per-image seeded noise at ``config.sigma``, whole-image denoising).

    Returns ``{"val_top1", "val_top5"}`` or ``{"val_miou"}`` (%), plus ``"val_psnr"`` (mean dB of the denoised
    inputs) and ``"val_images"``.
    """
    from keras_semdenoise.deploy import inference
    from keras_semdenoise.evaluation.head_scores import evaluate_head

    crop = config.validation_crop()
    batch_size = config.batch_size if crop else 1  # whole images may differ in size
    max_batches = -(-config.val_images // batch_size) if config.val_images else None

    result = evaluate_head(
        head,
        split,
        batch_size,
        crop,
        max_batches,
        sigma_255=config.sigma,
        denoise=lambda noisy, indices: inference.denoise_batch(denoiser, noisy),
    )
    return {f"val_{name}": value for name, value in result.items()}


def _history_callback(config: JointConfig, trained, denoiser, head, val_split):
    """``runs.history_callback`` for joint training: with ``val_split``, each checkpoint (and step 0, the
    starting denoiser) is validated and the best by the task metric kept in ``best.weights.h5``.

    ``trained`` is the denoiser in the trainer; ``denoiser`` and ``head`` the float32 networks validation runs
    (the trained weights copied in), so a checkpoint scores as the evaluation will score it, whatever the
    training precision."""
    metric = validation_metric(config.task)

    def evaluate() -> dict:
        start = time.time()
        graph_transforms.copy_weights(trained, denoiser)
        return {**validate(config, denoiser, head, val_split), "val_seconds": time.time() - start}

    def details(record: dict) -> str:
        return (
            f", PSNR {record['val_psnr']:.2f} dB ({record['val_images']} images of {config.val_split}, "
            f"sigma {config.sigma:g})"
        )

    validating = val_split is not None
    return runs.validation_history(config, trained, evaluate if validating else None, metric, details, True)


def _ship(config: JointConfig, trained, denoiser) -> None:
    """Writes ``denoiser.keras``, the float32 ``denoiser`` holding the best checkpoint by validation when there
    was one, else the last weights of ``trained`` (the trainer's denoiser)."""
    details = lambda best: f", PSNR {best['val_psnr']:.2f} dB on {config.val_split}"
    runs.ship_best(config, trained, denoiser, validation_metric(config.task), details)
    atomic.save_model(denoiser, os.path.join(config.model_dir, "denoiser.keras"))


def run_joint_training(config: JointConfig):
    """Trains the denoiser through the frozen head; writes ``history.json`` (per checkpoint), ``best.weights.h5``
    (with validation) and ``denoiser.keras`` in ``model_dir``; returns the shipped denoiser."""
    import keras

    from keras_semdenoise.deploy import inference
    from keras_semdenoise.models.denoiser import build_denoiser
    from keras_semdenoise.models.heads import load_head
    from keras_semdenoise.training.cascade import CascadeTrainer

    noise.check_sigma(config.sigma)
    config.check_splits()
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    strategy = runs.backend_strategy(config.strategy, config.logical_cpus)  # None off TensorFlow (JAX: one device)
    split = config.load_split(config.train_split)
    val_split = config.load_split(config.val_split) if config.val_split else None
    weights = config.loss_weights()
    policy = precision.resolve_policy(config.dtype_policy)
    atomic.write_json(
        os.path.join(config.model_dir, "config.json"),
        {
            **dataclasses.asdict(config),
            **dataclasses.asdict(weights),
            "resolved": {"dtype_policy": policy, "backend": keras.backend.backend()},
        },
        indent=2,
    )
    with runs.strategy_scope(strategy):
        denoiser = inference.load_denoiser(config.denoiser_init) if config.denoiser_init else build_denoiser()
        head = load_head(config.head)
        # mixed_bfloat16: 1.4x (CIFAR-10) to 1.5x (CamVid) a step on this CPU
        trained, trained_head = (graph_transforms.training_twin(net, policy) for net in (denoiser, head))
        trainer = CascadeTrainer(trained, trained_head, config.task, weights, split.ignore_index)
        trainer.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        trainer(np.zeros((1, 32, 32, 3), "float32"))  # built before BackupAndRestore restores into it
    epochs, interval = runs.fit_intervals(config.steps, config.checkpoint_every)
    trainer.fit(
        sources.batches(
            split, config.batch_size, config.crop_size, training=True, sigma_255=config.sigma, seed=config.seed
        ),
        epochs=epochs,
        steps_per_epoch=interval,
        # The backup first: a checkpoint is saved before its record, which a redone checkpoint replaces.
        callbacks=[
            runs.backup_callback(os.path.join(config.model_dir, "backup")),
            _history_callback(config, trained, denoiser, head, val_split),
        ],
        verbose=config.verbose,
    )
    _ship(config, trained, denoiser)
    return denoiser
