"""Training a head on clean images (``train/train_head.py`` fills ``HeadConfig`` from absl flags).

Runs are resumable like denoiser training (``runs.backup_callback``): an interrupted run goes on
from its last checkpoint. The data may be any ``data.sources`` source, ``packed:DIR`` included (no
TensorFlow needed, so heads train under ``KERAS_BACKEND=jax``).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from keras_semdenoise import atomic, metrics, task_kinds
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import photometric, sources, splits
from keras_semdenoise.data.task_data import check_scale_range
from keras_semdenoise.deploy import graph_transforms, precision
from keras_semdenoise.evaluation.intervals import validation_metric
from keras_semdenoise.models.heads.deeplab import check_input_scale
from keras_semdenoise.models.heads.factory import build_head
from keras_semdenoise.training import losses, runs

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("cosine", "poly")
CLASS_WEIGHTINGS = ("none", "median_frequency")
POLY_POWER = 0.9  # DeepLab's poly learning-rate policy (Chen et al.)


VAL_SPLIT_HELP = (
    "Split measured (clean) at every checkpoint, e.g. val or train[-5000:]; "
    "the best checkpoint by its top-1 / mIoU is shipped (none: the last)."
)


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
    scale_range: tuple[float, ...] | None = setting(
        None,
        "Segmentation: each training frame resized by a factor "
        "drawn uniformly from low,high before the crop (e.g. "
        "0.5,2.0, DeepLab's scale augmentation); default none.",
    )
    color_jitter: float = setting(
        0.0,
        "Segmentation: each training frame's brightness, contrast and saturation "
        "scaled by factors drawn from [1 - x, 1 + x] (e.g. 0.3); 0: none.",
    )
    class_weighting: str = setting(
        "none",
        "Segmentation: weight of each class's pixels in the loss; "
        "median_frequency: median(freq) / freq(c) over the training split "
        "(SegNet's CamVid recipe, lifts thin rare classes such as poles); none: 1 each.",
        choices=CLASS_WEIGHTINGS,
    )
    input_scale: float = setting(
        1.0,
        "Segmentation: the head resizes its input by this factor before the trunk "
        "(logits still at the input size; e.g. 1.5 sees thin objects on a finer "
        "grid at 2.25x the cost); experiments/probes/choose_head_scale.py sets it after training.",
    )
    batch_size: int = setting(32, "Batch size.")
    steps: int = setting(1000, "Training steps.")
    learning_rate: float = setting(1e-3, "Peak Adam learning rate.")
    lr_schedule: str = setting(
        "cosine",
        "Learning-rate schedule over the run: cosine (to 1% of the peak) or poly "
        "(DeepLab's: peak x (1 - step / steps) ^ 0.9).",
        choices=LR_SCHEDULES,
    )
    checkpoint_every: int = setting(200, "Steps between resumable checkpoints.")
    val_split: str | None = setting(None, VAL_SPLIT_HELP)
    val_batches: int = setting(0, "Batches of val_split measured (0: all; segmentation: whole frames, one a batch).")
    eval_split: str | None = setting("test", "Split for the clean accuracy / mIoU at the end ('' for none).")
    eval_batches: int = setting(20, "Batches evaluated (0: all).")
    dtype_policy: str = setting(
        "auto",
        "Training precision; auto: mixed_bfloat16 where the CPU/GPU has native bf16 "
        "(validation, evaluation and the shipped head.keras are float32).",
        choices=("auto", *precision.POLICIES),
    )
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity.")

    def __post_init__(self):
        self.scale_range = check_scale_range(self.scale_range, self.task)
        if self.class_weighting != "none" and task_kinds.check_task(self.task) != task_kinds.SEGMENTATION.name:
            raise ValueError(f"class_weighting={self.class_weighting} is for segmentation heads only")
        photometric.check_strength(self.color_jitter, self.task)
        check_input_scale(self.input_scale)
        if self.input_scale != 1 and task_kinds.check_task(self.task) != task_kinds.SEGMENTATION.name:
            raise ValueError(f"input_scale={self.input_scale} is for segmentation heads only")


def _loss_and_metrics(task: str, ignore_index: int | None, class_weights=None):
    import keras

    if task_kinds.check_task(task) == task_kinds.CLASSIFICATION.name:
        return (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    return losses.SegmentationCrossEntropy(ignore_index, class_weights), []


def class_weights(config: HeadConfig, split) -> list[float] | None:
    """The per-class loss weights ``config.class_weighting`` asks for, from the training ``split``'s labels;
    None for ``none``."""
    if config.class_weighting == "none":
        return None
    return [float(w) for w in losses.median_frequency_weights(*sources.class_pixel_counts(split))]


def learning_rate_schedule(config: HeadConfig):
    """The peak ``learning_rate`` decayed over ``steps``: cosine to 1% of it, or DeepLab's poly (power 0.9) to 0."""
    import keras

    if config.lr_schedule == "poly":
        return keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, config.steps, end_learning_rate=0.0, power=POLY_POWER
        )
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps, alpha=0.01)


def _measure(config: HeadConfig, head, split, max_batches: int, per_class: bool = False) -> dict:
    """Clean top-1 / top-5 or mIoU (%) of ``head`` on ``split``: classification in batches of crops, segmentation
    on whole frames one at a time (any size), as ``tools/evaluate_task.py`` measures them. ``per_class``: a
    segmentation result also gives ``class_iou``, each class's IoU (%) by name (index where unnamed; None for
    a class absent from truth and prediction)."""
    from keras_semdenoise.evaluation import head_scores

    if config.task == task_kinds.CLASSIFICATION.name:
        return head_scores.evaluate_head(head, split, config.batch_size, config.crop_size, max_batches)
    return measure_segmentation(head, split, max_batches, per_class)


def measure_segmentation(head, split, max_batches: int, per_class: bool = False) -> dict:
    """Clean mIoU (%) of the segmentation ``head`` on ``split``'s whole frames, one at a time:
    ``{"images", "miou"}``, and with ``per_class`` ``class_iou`` (see ``_measure``)."""
    from keras_semdenoise.evaluation import head_scores

    result, records = head_scores.measure_head(head, split, 1, None, max_batches)[:2]
    if per_class:
        names = split.class_names or tuple(str(c) for c in range(split.num_classes))
        iou = metrics.class_iou(records["confusion"].sum(0))
        result["class_iou"] = {name: (None if np.isnan(v) else float(100 * v)) for name, v in zip(names, iou)}
    return result


def _history_callback(config: HeadConfig, trained, head, val):
    """``runs.history_callback`` for heads: with a validation split, every checkpoint is measured on it and
    the best by ``validation_metric`` is kept in ``best.weights.h5``. ``trained`` is the head being trained,
    ``head`` its float32 twin that is measured (the trained weights copied in)."""
    metric = validation_metric(config.task)

    def evaluate() -> dict:
        graph_transforms.copy_weights(trained, head)
        return {f"val_{name}": value for name, value in _measure(config, head, val, config.val_batches).items()}

    details = lambda record: f" on {config.val_split}"
    return runs.validation_history(config, trained, evaluate if val else None, metric, details)


def run_head_training(config: HeadConfig):
    """Trains a head on clean images; writes ``head.keras`` (the best checkpoint by ``val_split`` when given,
    else the last), ``history.json`` (one record per checkpoint) and ``eval.json`` (accuracy or mIoU)."""
    import keras

    splits.check_validation(config.train_split, config.val_split)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    split = config.load_split(config.train_split)
    val = config.load_split(config.val_split, split.ignore_index, split.num_classes) if config.val_split else None
    policy = precision.resolve_policy(config.dtype_policy)
    pixel_weights = class_weights(config, split)
    if pixel_weights is not None:
        logger.info("class weights (%s): %s", config.class_weighting, ", ".join(f"{w:.3f}" for w in pixel_weights))
    atomic.write_json(
        os.path.join(config.model_dir, "config.json"),
        {
            **dataclasses.asdict(config),
            "resolved": {"dtype_policy": policy, "backend": keras.backend.backend(), "class_weights": pixel_weights},
        },
        indent=2,
    )
    head = build_head(config, split.num_classes)  # float32: measured and shipped
    trained = graph_transforms.training_twin(head, policy)  # bf16: a CamVid step (widths / 2) 8.1 -> 5.4 s here
    loss, metrics = _loss_and_metrics(config.task, split.ignore_index, pixel_weights)
    trained.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(config)), loss=loss, metrics=metrics)
    epochs, interval = runs.fit_intervals(config.steps, config.checkpoint_every)
    trained.fit(
        sources.batches(
            split,
            config.batch_size,
            config.crop_size,
            training=True,
            seed=config.seed,
            scale_range=config.scale_range,
            color_jitter=config.color_jitter,
        ),
        epochs=epochs,
        steps_per_epoch=interval,
        # The backup first: a checkpoint is saved before its record.
        callbacks=[
            runs.backup_callback(os.path.join(config.model_dir, "backup")),
            _history_callback(config, trained, head, val),
        ],
        verbose=config.verbose,
    )
    runs.ship_best(config, trained, head, validation_metric(config.task), lambda best: f" on {config.val_split}")
    # The shipped head without the optimizer state (two thirds of the file; the backup keeps it).
    atomic.save_model(
        keras.Model(head.input, head.output, name=head.name), os.path.join(config.model_dir, "head.keras")
    )
    if config.eval_split:
        test = config.load_split(config.eval_split, split.ignore_index, split.num_classes)
        result = _measure(config, head, test, config.eval_batches, per_class=True)
        atomic.write_json(os.path.join(config.model_dir, "eval.json"), result, indent=2)
        logger.info("clean %s: %s", config.eval_split, result)
    return head
