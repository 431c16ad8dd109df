"""A frozen head's score on a task split (accuracy top-1/top-5, or mIoU), on clean inputs or on the split's
seeded noisy images run through a denoiser, with the per-image records that ``evaluation.intervals`` turns into
bootstrap intervals. ``evaluation.task_scores`` builds the paper's Tables IV/V from it."""

from __future__ import annotations

import numpy as np

from keras_semdenoise import metrics, noise, task_kinds
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import intervals


def noisy_batches(
    split,
    batch_size: int,
    crop_size: int | None,
    max_batches: int | None = None,
    sigma_255: float | None = None,
    start_batch: int = 0,
):
    """One evaluation pass over ``split`` in order: ``(indices, clean, inputs, labels)`` per batch, where
    ``indices`` are the images' indices in the split (``range``), ``clean`` (N, H, W, 3) float32 in [0, 1],
    ``inputs`` the clean images or, with ``sigma_255``, the evaluation noise seeded by each index added.
    Batches ``start_batch`` (0-based) up to ``max_batches`` (exclusive; None: the end)."""
    count = 0
    for index, (images, labels) in enumerate(sources.batches(split, batch_size, crop_size, training=False)):
        if max_batches and index >= max_batches:
            break
        clean = np.asarray(images)
        if index < start_batch:
            count += len(clean)
            continue
        indices = range(count, count + len(clean))
        inputs = (
            clean
            if sigma_255 is None
            else np.stack(
                [
                    noise.add_seeded_gaussian_noise(image, sigma_255, task_kinds.noise_name(split.task, i))
                    for i, image in zip(indices, clean)
                ]
            )
        )
        yield indices, clean, inputs, np.asarray(labels)
        count += len(clean)


def measure_head(
    head,
    split,
    batch_size: int,
    crop_size: int | None,
    max_batches: int | None = None,
    sigma_255: float | None = None,
    denoise=None,
    start_batch: int = 0,
) -> tuple[dict, dict]:
    """``head`` on ``split``, optionally on seeded-noise inputs run through ``denoise``: summary and records.

    Args:
        split: from ``data.sources.load_split``.
        sigma_255: if set, each image gets the evaluation noise seeded by its index in the split.
        denoise: optional ``f(noisy batch (N, H, W, 3), the images' indices in the split) -> batch``: the
            setting being measured.
        start_batch, max_batches: the batches measured (``noisy_batches``): a part of a cell.
    Returns:
        ``(result, records)``: ``result`` is ``{"images": n, "top1": %, "top5": %}`` or ``{"images": n,
        "miou": %}``, plus ``"psnr"`` (mean dB of the head's input against the clean image) when
        ``sigma_255`` is set; ``records`` the per-image values they come from (``evaluation.intervals``).
    """
    classification = task_kinds.check_task(split.task) == task_kinds.CLASSIFICATION.name
    top1, top5, confusions, psnrs = [], [], [], []
    for indices, clean, images, labels in noisy_batches(
        split, batch_size, crop_size, max_batches, sigma_255, start_batch
    ):
        if denoise is not None:
            images = np.asarray(denoise(images, indices))
        if sigma_255 is not None:
            psnrs += [metrics.psnr_uint8(c, d) for c, d in zip(clean, images)]
        logits = np.asarray(head(images, training=False))
        if classification:
            top1.append(metrics.top_k_correct(labels, logits, 1))
            top5.append(metrics.top_k_correct(labels, logits, min(5, logits.shape[-1])))
        else:
            confusions += [
                metrics.confusion_matrix(label, prediction, split.num_classes, split.ignore_index)
                for label, prediction in zip(labels, logits.argmax(-1))
            ]
    if classification:
        records = {
            "top1": np.concatenate(top1 or [np.zeros(0, bool)]),
            "top5": np.concatenate(top5 or [np.zeros(0, bool)]),
        }
    else:
        classes = split.num_classes
        records = {"confusion": np.stack(confusions) if confusions else np.zeros((0, classes, classes), np.int64)}
    if sigma_255 is not None:
        records["psnr"] = np.asarray(psnrs, dtype=np.float64)
    return summarize(records), records


def summarize(records: dict) -> dict:
    """A cell's summary from its per-image records: ``{"images", "top1", "top5"}`` or ``{"images", "miou"}``,
    plus ``"psnr"`` where the records have it."""
    names = ("top1", "top5") if "top1" in records else ("miou",)
    images = len(records["top1"] if "top1" in records else records["confusion"])
    result = {"images": images}
    if not images:
        return result
    if "psnr" in records:
        result["psnr"] = intervals.cell_score(records, "psnr")
    return {**result, **{name: intervals.cell_score(records, name) for name in names}}


def evaluate_head(head, split, *args, **kwargs) -> dict:
    """``measure_head``'s summary alone (same arguments): ``{"images", "top1", "top5"}`` or ``{"images", "miou"}``
    (+ ``"psnr"``)."""
    return measure_head(head, split, *args, **kwargs)[0]
