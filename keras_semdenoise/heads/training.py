"""Training a head on clean images (``train/train_head.py`` fills ``HeadConfig`` from absl flags).

Runs are resumable like denoiser training (``runs.backup_callback``): an interrupted run goes on
from its last checkpoint. The data may be any ``data.sources`` source, ``packed:DIR`` included (no
TensorFlow needed, so heads train under ``KERAS_BACKEND=jax``).
"""

from __future__ import annotations

import dataclasses
import logging
import os

from keras_semdenoise import atomic, losses, runs, tasks
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import sources
from keras_semdenoise.heads.factory import build_head

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True)
class HeadConfig(sources.TaskDataConfig):
    """Training a head on clean images (``train/train_head.py``: one flag per field)."""

    model_dir: str = setting(help="Run folder; the head is written as head.keras.")
    train_split: str = setting("train", "Training split.")
    weights: str | None = setting(None, "Backbone init: imagenet or a VGG16 .h5 path (default: random).")
    width_divisor: int = setting(1, "Divide VGG16 widths by this (1 = paper).")
    top: str = setting("gap", "Classifier top: gap (any size) or fc (VGG16's).", choices=("gap", "fc"))
    hidden_units: int = setting(512, "Classifier hidden dense width.")
    fc_units: int = setting(1024, "DeepLab fc6/fc7 width.")
    batch_norm: bool = setting(False, "Batch norm between each backbone conv and its ReLU (from-scratch heads).")
    crop_size: int | None = setting(224, "Training crop (classification: also the input size).")
    batch_size: int = setting(32, "Batch size.")
    steps: int = setting(1000, "Training steps.")
    learning_rate: float = setting(1e-3, "Peak Adam learning rate (cosine decay).")
    checkpoint_every: int = setting(200, "Steps between resumable checkpoints.")
    eval_split: str | None = setting("test", "Split for the clean accuracy / mIoU at the end ('' for none).")
    eval_batches: int = setting(20, "Batches evaluated (0: all).")
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity.")


def _loss_and_metrics(task: str, ignore_index: int | None):
    import keras

    if tasks.check_task(task) == tasks.CLASSIFICATION.name:
        return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return losses.SegmentationCrossEntropy(ignore_index), []


def run_head_training(config: HeadConfig):
    """Trains a head on clean images; writes ``head.keras`` and ``eval.json`` (accuracy or mIoU)."""
    import keras

    from keras_semdenoise.evaluation import tasks as task_evaluation

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    split = config.load_split(config.train_split)
    atomic.write_json(os.path.join(config.model_dir, "config.json"), dataclasses.asdict(config), indent=2)
    head = build_head(config, split.num_classes)
    loss, metrics = _loss_and_metrics(config.task, split.ignore_index)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps, alpha=0.01)
    head.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)
    epochs, interval = runs.fit_intervals(config.steps, config.checkpoint_every)
    head.fit(
        sources.batches(split, config.batch_size, config.crop_size, training=True, seed=config.seed),
        epochs=epochs,
        steps_per_epoch=interval,
        callbacks=[runs.backup_callback(os.path.join(config.model_dir, "backup"))],
        verbose=config.verbose,
    )
    # The shipped head without the optimizer state (two thirds of the file; the backup keeps it).
    atomic.save_model(keras.Model(head.input, head.output, name=head.name), os.path.join(config.model_dir, "head.keras"))
    if config.eval_split:
        test = config.load_split(config.eval_split, split.ignore_index, split.num_classes)
        if config.task == tasks.CLASSIFICATION.name:
            result = task_evaluation.evaluate_head(head, test, config.batch_size, config.crop_size, config.eval_batches)
        else:  # whole frames, one at a time (any size), as tools/evaluate_task.py measures them
            result = task_evaluation.evaluate_head(head, test, 1, None, config.eval_batches)
        atomic.write_json(os.path.join(config.model_dir, "eval.json"), result, indent=2)
        logger.info("clean %s: %s", config.eval_split, result)
    return head
