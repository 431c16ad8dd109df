"""What a separate (MSE) training run hands to ``fit``: its optimizer on a learning-rate schedule, and its
callbacks (backup, evaluation + history + best weights, TensorBoard). ``config`` is the run's
``separate.TrainConfig``."""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from keras_semdenoise.training import runs
from keras_semdenoise.training.runs import describe_sigmas, evaluation_sigmas

logger = logging.getLogger("keras_semdenoise.training.separate")


def learning_rate_schedule(config):
    """The optimizer's learning rate: cosine decay with linear warm-up, /10 steps, or constant."""
    import keras

    total = config.epochs * config.checkpoint_every
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "step":
        boundaries = [int(total * 0.5), int(total * 0.75)]
        values = [config.learning_rate, config.learning_rate / 10, config.learning_rate / 100]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    warmup = min(config.warmup_steps, total - 1)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate * 0.01,
            decay_steps=max(total - warmup, 1),
            alpha=config.min_lr_ratio,
            warmup_target=config.learning_rate,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, total, alpha=config.min_lr_ratio)


def make_optimizer(config):
    """The run's optimizer: Adam on ``learning_rate_schedule(config)``. Its variables are part of a backup, so
    loading a backup needs this same optimizer (a constant rate adds one variable a schedule does not have)."""
    import keras

    return keras.optimizers.Adam(learning_rate_schedule(config))


def callbacks(config, model, eval_images, triplet_batch):
    """Backup, evaluation + history + best weights; TensorBoard logs where TensorFlow is installed."""
    import keras

    from keras_semdenoise import evaluation

    tf = None
    if runs.has_tensorflow():
        import tensorflow as tf
    backup_dir = os.path.join(config.model_dir, "backup")
    levels = evaluation_sigmas(dataclasses.asdict(config))

    writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "logs", "eval")) if tf else None

    def evaluate() -> dict:
        """``{"eval_psnr": mean over the levels}``, plus ``eval_psnr_s<level>`` each where there are several."""
        method = evaluation.denoiser_method(model)
        each = {f"eval_psnr_s{level:g}": evaluation.mean_psnr(method, eval_images, level) for level in levels}
        return {"eval_psnr": float(np.mean(list(each.values()))), **(each if len(levels) > 1 else {})}

    def log(record: dict, improved: bool) -> None:
        """The log line and, where TensorFlow is installed, the PSNR and image triplets in TensorBoard."""
        step = record["step"]
        if "eval_psnr" in record:
            source = f" ({config.init_weights})" if step == 0 else ""
            logger.info("step %d%s: eval PSNR %.2f dB (%s)", step, source, record["eval_psnr"], describe_sigmas(levels))
        if writer is not None and step > 0:
            with writer.as_default(step=step):
                if "eval_psnr" in record:
                    tf.summary.scalar("eval_psnr_db", record["eval_psnr"])
                noisy, clean = triplet_batch
                denoised = np.clip(np.asarray(model(noisy, training=False)), 0, 1)
                triplets = np.concatenate([np.clip(noisy, 0, 1), denoised, clean], axis=2)
                tf.summary.image("noisy_denoised_clean", triplets, max_outputs=len(triplets))
            writer.flush()

    # A run that starts from other weights records them as step 0 (the mark to beat).
    history = runs.history_callback(
        config.model_dir,
        config.checkpoint_every,
        model,
        evaluate=evaluate if eval_images else None,
        score="eval_psnr",
        record_start=bool(config.init_weights and eval_images),
        on_record=log,
    )
    callbacks = [runs.backup_callback(backup_dir)]
    if tf is not None:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.model_dir, "logs"), update_freq=50))
    return callbacks + [history]
