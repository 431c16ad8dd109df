"""Training for the high-level side: heads on clean data, and joint denoiser training through a frozen head.

``train/train_head.py`` and ``train/train_joint.py`` fill ``HeadConfig`` / ``JointConfig`` from
absl flags. Runs are resumable like separate training (``training.backup_callback``).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from keras_semdenoise import atomic, losses, metrics, noise, training
from keras_semdenoise.config_flags import setting

logger = logging.getLogger(__name__)


# The tasks a head is trained for (the ones the joint loss has weights for).
TASKS = tuple(losses.PAPER_LAMBDAS)
_DATA_HELP = "Data folder, tfds:imagenet2012, or packed:DIR (tools/pack_task_data.py; no TensorFlow needed)."


@dataclasses.dataclass
class HeadConfig:
    """Training a head on clean images (``train/train_head.py``: one flag per field)."""

    task: str = setting(help="High-level task.", choices=TASKS)
    data: str = setting(help=_DATA_HELP)
    model_dir: str = setting(help="Run folder; the head is written as head.keras.")
    num_classes: int | None = setting(None, "Segmentation classes (required for non-VOC folders).")
    ignore_index: int | None = setting(None, "Segmentation void label (required for non-VOC folders).")
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
    train_split: str = setting("train", "Training split.")
    eval_split: str | None = setting("test", "Split for the clean accuracy / mIoU at the end ('' for none).")
    eval_batches: int = setting(20, "Batches evaluated (0: all).")
    data_dir: str | None = setting(None, "tfds data_dir.")
    manual_dir: str | None = setting(None, "tfds manual_dir (ImageNet tars).")
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity.")


@dataclasses.dataclass
class JointConfig:
    """Joint training of a denoiser through a frozen head (paper Sec. III-B; ``train/train_joint.py``)."""

    task: str = setting(help="High-level task.", choices=TASKS)
    data: str = setting(help="Data folder, or tfds:imagenet2012.")
    model_dir: str = setting(help="Run folder; the denoiser is written as denoiser.keras.")
    head: str = setting(help="Frozen head (.keras from train_head.py).")
    denoiser_init: str | None = setting(None, "Start from this .keras denoiser (separate training; default: fresh).")
    sigma: float = setting(noise.DEFAULT_SIGMA_255, "Noise level on the 0..255 scale.")
    lambda_p: float | None = setting(None, "Perceptual weight (default: paper, 0.5).")
    lambda_h: float | None = setting(None, "Task weight (default: paper, 0.25 cls / 0.5 seg).")
    ignore_index: int | None = setting(None, "Segmentation void label (required for non-VOC folders).")
    num_classes: int | None = setting(None, "Segmentation classes (required for non-VOC folders).")
    crop_size: int | None = setting(224, "Training crop.")
    batch_size: int = setting(10, "Global batch size.")
    steps: int = setting(1000, "Training steps.")
    learning_rate: float = setting(1e-4, "Adam learning rate.")
    checkpoint_every: int = setting(200, "Steps between resumable checkpoints.")
    train_split: str = setting("train", "Training split.")
    strategy: str = setting("auto", "tf.distribute strategy.", choices=("auto", "mirrored", "default"))
    logical_cpus: int = setting(0, "Split the CPU into N logical devices.")
    data_dir: str | None = setting(None, "tfds data_dir.")
    manual_dir: str | None = setting(None, "tfds manual_dir (ImageNet tars).")
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity.")


def build_head(config: HeadConfig, num_classes: int):
    """The head ``config`` describes: a VGG16 classifier or DeepLab-LargeFOV, [0, 1] RGB in, logits out."""
    from keras_semdenoise.heads import build_deeplab_largefov, build_vgg16_classifier

    if config.task == "classification":
        if config.crop_size is None:
            raise ValueError("classification heads need a fixed crop_size")
        return build_vgg16_classifier(num_classes, config.weights, (config.crop_size, config.crop_size, 3),
                                      config.width_divisor, config.top, config.hidden_units,
                                      batch_norm=config.batch_norm)
    if config.task == "segmentation":
        return build_deeplab_largefov(num_classes, config.weights, (None, None, 3), config.width_divisor,
                                      config.fc_units, batch_norm=config.batch_norm)
    raise ValueError(f"task must be one of {', '.join(TASKS)}, got {config.task!r}")


def load_head(path: str):
    """Loads a ``.keras`` head (custom layers registered on import)."""
    import keras

    from keras_semdenoise import heads  # noqa: F401 - registers CaffeInput / ResizeLike

    if not os.path.exists(path):
        raise FileNotFoundError(f"head model not found: {path} (train one with train/train_head.py)")
    return keras.saving.load_model(path, compile=False)


def run_head_training(config: HeadConfig):
    """Trains a head on clean images; writes ``head.keras`` and ``eval.json`` (accuracy or mIoU)."""
    import keras

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    split = _load_split(config, config.train_split)
    os.makedirs(config.model_dir, exist_ok=True)
    atomic.write_json(os.path.join(config.model_dir, "config.json"), dataclasses.asdict(config), indent=2)
    head = build_head(config, split.num_classes)
    if config.task == "classification":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metric = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss = losses.SegmentationCrossEntropy(split.ignore_index)
        metric = []
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps, alpha=0.01)
    head.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metric)
    epochs, interval = training.fit_intervals(config.steps, config.checkpoint_every)
    head.fit(
        _batches(split, config.batch_size, config.crop_size, training=True, seed=config.seed),
        epochs=epochs,
        steps_per_epoch=interval,
        callbacks=[training.backup_callback(os.path.join(config.model_dir, "backup"))],
        verbose=config.verbose,
    )
    # The shipped head without the optimizer state (two thirds of the file; the backup keeps it).
    atomic.save_model(keras.Model(head.input, head.output, name=head.name), os.path.join(config.model_dir, "head.keras"))
    if config.eval_split:
        test = _load_split(config, config.eval_split, split.ignore_index, split.num_classes)
        if config.task == "classification":
            result = evaluate_head(head, test, config.batch_size, config.crop_size, config.eval_batches)
        else:  # whole frames, one at a time (any size), as tools/evaluate_task.py measures them
            result = evaluate_head(head, test, 1, None, config.eval_batches)
        atomic.write_json(os.path.join(config.model_dir, "eval.json"), result, indent=2)
        logger.info("clean %s: %s", config.eval_split, result)
    return head


def _load_split(config: HeadConfig, split: str, ignore_index=None, num_classes=None):
    """A split of ``config.data``: a ``packed:DIR`` (no TensorFlow needed) or a ``tasks`` source."""
    from keras_semdenoise.data import packed, tasks

    if packed.is_packed(config.data):
        return packed.load_split(config.data, split, config.task)
    return tasks.load_split(config.task, config.data, split,
                            config.ignore_index if ignore_index is None else ignore_index,
                            config.num_classes if num_classes is None else num_classes,
                            config.data_dir, config.manual_dir)


def _batches(split, batch_size: int, crop_size: int | None, training: bool, seed: int | None = None):
    """Batches of a packed split (numpy) or of a ``tasks`` split (tf.data), same augmentation."""
    from keras_semdenoise.data import packed, tasks

    if isinstance(split, packed.PackedSplit):
        return packed.batches(split, batch_size, crop_size, training, seed)
    return tasks.batches(split, batch_size, crop_size, training=training)


def evaluate_head(head, split, batch_size: int, crop_size: int | None, max_batches: int | None = None,
                  sigma_255: float | None = None, denoise=None) -> dict:
    """Top-1/top-5 or mIoU of ``head`` on ``split``, optionally on seeded-noise inputs run through ``denoise``.

    Args:
        sigma_255: if set, each image gets the evaluation noise seeded by its index in the split.
        denoise: optional ``f(noisy batch (N, H, W, 3)) -> batch``: the setting being measured.
    Returns:
        ``{"images": n, "top1": %, "top5": %}`` or ``{"images": n, "miou": %}``, plus ``"psnr"``
        (mean dB of the head's input against the clean image) when ``sigma_255`` is set.
    """
    correct1 = correct5 = count = 0
    confusion = None
    psnrs = []
    dataset = _batches(split, batch_size, crop_size, training=False)
    for index, (images, labels) in enumerate(dataset):
        if max_batches and index >= max_batches:
            break
        clean = images = np.asarray(images)
        if sigma_255 is not None:
            images = np.stack([
                noise.add_seeded_gaussian_noise(image, sigma_255, f"{split.task}:{count + i}")
                for i, image in enumerate(images)
            ])
        if denoise is not None:
            images = np.asarray(denoise(images))
        if sigma_255 is not None:
            psnrs += [metrics.psnr_uint8(c, d) for c, d in zip(clean, images)]
        logits = np.asarray(head(images, training=False))
        labels = np.asarray(labels)
        if split.task == "classification":
            correct1 += int(metrics.top_k_correct(labels, logits, 1).sum())
            correct5 += int(metrics.top_k_correct(labels, logits, min(5, logits.shape[-1])).sum())
        else:
            matrix = metrics.confusion_matrix(labels, logits.argmax(-1), split.num_classes, split.ignore_index)
            confusion = matrix if confusion is None else confusion + matrix
        count += len(images)
    result = {"images": count}
    if psnrs:
        result["psnr"] = float(np.mean(psnrs))
    if split.task == "classification":
        return {**result, "top1": 100.0 * correct1 / max(count, 1), "top5": 100.0 * correct5 / max(count, 1)}
    return {**result, "miou": 100.0 * metrics.mean_iou(confusion)}


def run_joint_training(config: JointConfig):
    """Trains the denoiser through the frozen head; writes ``denoiser.keras`` in ``model_dir``."""
    import keras

    from keras_semdenoise import inference
    from keras_semdenoise.cascade import CascadeTrainer
    from keras_semdenoise.data import tasks
    from keras_semdenoise.denoiser import build_denoiser

    noise.check_sigma(config.sigma)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    strategy = training.make_strategy(config.strategy, config.logical_cpus)
    split = tasks.load_split(config.task, config.data, config.train_split, config.ignore_index,
                             config.num_classes, config.data_dir, config.manual_dir)
    paper = losses.JointLossWeights.paper(config.task)
    weights = losses.JointLossWeights(
        paper.lambda_p if config.lambda_p is None else config.lambda_p,
        paper.lambda_h if config.lambda_h is None else config.lambda_h,
    )
    os.makedirs(config.model_dir, exist_ok=True)
    atomic.write_json(os.path.join(config.model_dir, "config.json"),
                      {**dataclasses.asdict(config), "lambda_p": weights.lambda_p, "lambda_h": weights.lambda_h},
                      indent=2)
    with strategy.scope():
        denoiser = inference.load_denoiser(config.denoiser_init) if config.denoiser_init else build_denoiser()
        head = load_head(config.head)
        trainer = CascadeTrainer(denoiser, head, config.task, weights, split.ignore_index)
        trainer.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        trainer(np.zeros((1, 32, 32, 3), "float32"))  # built before BackupAndRestore restores into it
    epochs, interval = training.fit_intervals(config.steps, config.checkpoint_every)
    history = trainer.fit(
        tasks.batches(split, config.batch_size, config.crop_size, training=True, sigma_255=config.sigma),
        epochs=epochs,
        steps_per_epoch=interval,
        callbacks=[training.backup_callback(os.path.join(config.model_dir, "backup"))],
        verbose=config.verbose,
    )
    atomic.save_model(denoiser, os.path.join(config.model_dir, "denoiser.keras"))
    atomic.write_json(os.path.join(config.model_dir, "history.json"),
                      {k: [float(v) for v in values] for k, values in history.history.items()})
    return denoiser


# The settings of the paper's Tables IV/V (tools/evaluate_task.py), in table order.
SETTING_TITLES = {
    "clean": "clean input (no noise)", "noisy": "noisy input", "cbm3d": "CBM3D + head",
    "separate": "separate + head", "joint": "joint", "cross": "joint cross-task",
}


def markdown_table(state: dict, task: str) -> str:
    """The paper-style table (Tables IV/V) of an ``evaluate_task`` results state, as markdown."""
    from keras_semdenoise import evaluation

    metric = "top-1 / top-5 accuracy (%)" if task == "classification" else "mIoU (%)"
    sigmas = sorted({s for cells in state["cells"].values() for s in cells if s != "clean"}, key=float)
    lines = [f"Task: {task}, head `{state['head']}`, data `{state['data']}` split `{state['split']}`, "
             f"{metric}; PSNR (dB) of the head's input in brackets.", "",
             f"Noise: {evaluation.PROTOCOL}.", "", f"Machine: {evaluation.machine_description()}.", "",
             "| setting | " + " | ".join([f"sigma {s}" for s in sigmas] or ["no noise"]) + " |",
             "| --- |" + " --- |" * max(len(sigmas), 1)]
    clean = state["cells"].get("clean", {}).get("clean")
    if clean:
        value = f"{clean['top1']:.1f} / {clean['top5']:.1f}" if task == "classification" else f"{clean['miou']:.2f}"
        lines.append(f"| {SETTING_TITLES['clean']} | " + " | ".join([value] * max(len(sigmas), 1)) + " |")
    for setting in [s for s in SETTING_TITLES if s != "clean"]:
        cells = state["cells"].get(setting)
        if not cells:
            continue
        row = []
        for sigma in sigmas:
            cell = cells.get(sigma)
            if not cell:
                row.append("")
                continue
            value = f"{cell['top1']:.1f} / {cell['top5']:.1f}" if task == "classification" else f"{cell['miou']:.2f}"
            row.append(f"{value} ({cell['psnr']:.2f})" if "psnr" in cell else value)
        lines.append(f"| {SETTING_TITLES[setting]} | " + " | ".join(row) + " |")
    count = next((c["images"] for cells in state["cells"].values() for c in cells.values()), 0)
    lines += ["", f"{count} images per cell."]
    return "\n".join(lines)
