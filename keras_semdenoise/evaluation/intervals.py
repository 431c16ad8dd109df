"""Differences between two cells of a Tables IV/V evaluation, with paired bootstrap intervals over images.

Every cell of one evaluation sees the same images with the same noise (seeded per image index), so two
cells are paired samples: each resample draws image indices with replacement once and scores both cells
on them; the interval is the percentile interval of the resampled differences (Efron & Tibshirani,
"An Introduction to the Bootstrap", 1993, ch. 13).

A cell's per-image records (``evaluation.tasks.measure_head``, saved by ``evaluation.store.save_records``):

- classification: ``top1``, ``top5``: bool (N,), whether each image's label is among the head's top 1 / 5;
- segmentation: ``confusion``: int64 (N, C, C), each image's confusion matrix (rows truth, columns
  prediction), so mIoU is recomputed from the summed matrices of any resample, as on the whole split;
- ``psnr``: float64 (N,), dB of the head's input against the clean image (noisy cells only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from keras_semdenoise import metrics, task_kinds

# The numbers a cell's records give: accuracy and mIoU in %, PSNR in dB.
METRICS = ("top1", "top5", "miou", "psnr")

# The differences the paper's findings rest on, (first, second) for first - second, in table order.
COMPARISONS = (("separate", "noisy"), ("cbm3d", "noisy"), ("joint", "separate"), ("cross", "separate"))

# Bootstrap defaults: resamples and the seed of the resampled image indices.
RESAMPLES = 1000
SEED = 0

# Resampled indices drawn at once (resamples x images), to bound memory on large splits.
_BLOCK_ELEMENTS = 1 << 22

# ``records_of(setting, sigma key)``: a cell's records, or None where it has none.
RecordsReader = Callable[[str, str], "dict | None"]


@dataclasses.dataclass(frozen=True)
class Difference:
    """``first - second`` on all images and its bootstrap interval, in the metric's unit."""

    observed: float
    low: float
    high: float
    images: int

    def text(self, digits: int = 1) -> str:
        """``+3.1 [+2.4, +3.8]`` (a value that rounds to zero reads ``+0.0``, never ``-0.0``)."""
        low, observed, high = (f"{round(v, digits) + 0.0:+.{digits}f}" for v in (self.low, self.observed, self.high))
        return f"{observed} [{low}, {high}]"


def headline_metric(task: str) -> str:
    """The metric a task's tables lead with: ``top1`` (classification) or ``miou`` (segmentation)."""
    return "top1" if task_kinds.check_task(task) == task_kinds.CLASSIFICATION.name else "miou"


def validation_metric(task: str) -> str:
    """The history key of a task's validation metric, the one best checkpoints are chosen by (joint training,
    heads): ``val_top1`` (classification) or ``val_miou`` (segmentation), in %."""
    return f"val_{headline_metric(task)}"


def _per_image(records: dict, metric: str) -> np.ndarray:
    """(N, K) float64 per-image values whose sum over images gives the metric: K = 1, or C * C for mIoU."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    name = "confusion" if metric == "miou" else metric
    if name not in records:
        raise KeyError(f"records hold no {name!r} (they have {', '.join(sorted(records)) or 'nothing'})")
    values = np.asarray(records[name], dtype=np.float64)
    return values.reshape(len(values), -1)


def _scores(sums: np.ndarray, metric: str, count: int) -> np.ndarray:
    """(R,) metric of R summed resamples (R, K) of ``count`` images each."""
    if metric == "miou":
        classes = math.isqrt(sums.shape[1])
        return np.array([100.0 * metrics.mean_iou(row.reshape(classes, classes)) for row in sums])
    return sums[:, 0] * ((1.0 if metric == "psnr" else 100.0) / max(count, 1))


def cell_score(records: dict, metric: str) -> float:
    """The metric of a cell on all its images: accuracy or mIoU in %, mean PSNR in dB."""
    values = _per_image(records, metric)
    return float(_scores(values.sum(0, keepdims=True), metric, len(values))[0])


def resample_counts(count: int, resamples: int, seed: int = SEED):
    """Yields (rows, count) int64 blocks, ``resamples`` rows in all: how often each image is drawn in one
    resample of ``count`` images with replacement. The draws are ``numpy.random.default_rng(seed)
    .integers(0, count, count)`` per resample, in order, whatever the block size."""
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _BLOCK_ELEMENTS // max(count, 1)))
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        drawn = rng.integers(0, count, (rows, count)) + count * np.arange(rows)[:, None]
        yield np.bincount(drawn.ravel(), minlength=rows * count).reshape(rows, count)


def paired_bootstrap(
    first: dict, second: dict, metric: str, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95
) -> Difference:
    """``first - second`` of two cells' records on the same images, with a ``level`` percentile interval.

    Args:
        first, second: per-image records (module docstring) of two cells of one split.
        metric: one of ``METRICS``.
        resamples: bootstrap resamples of the images (each applied to both cells).
        seed: seeds the resampled indices, so a table's intervals are reproducible.
        level: the interval's coverage, in (0, 1).
    Raises:
        ValueError: the cells hold different numbers of images, none, or an unknown metric / level.
    """
    if not 0.0 < level < 1.0 or resamples < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got level {level}, resamples {resamples}")
    a, b = _per_image(first, metric), _per_image(second, metric)
    if a.shape != b.shape or not len(a):
        raise ValueError(f"cells must hold the same images: {a.shape} vs {b.shape} per-image values")
    count = len(a)
    observed = cell_score(first, metric) - cell_score(second, metric)
    differences = []
    for counts in resample_counts(count, resamples, seed):
        weights = counts.astype(np.float64)  # BLAS: the resampled sums of every block in one product
        differences.append(_scores(weights @ a, metric, count) - _scores(weights @ b, metric, count))
    differences = np.concatenate(differences)
    low, high = np.percentile(differences, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return Difference(float(observed), float(low), float(high), count)


def cell_difference(
    records_of: RecordsReader,
    first: str,
    second: str,
    key: str,
    metric: str,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Difference | None:
    """``paired_bootstrap`` of two settings' cells at sigma ``key``, or None when either has no records
    (results measured before records were kept) or they hold different images."""
    a, b = records_of(first, key), records_of(second, key)
    if a is None or b is None:
        return None
    try:
        return paired_bootstrap(a, b, metric, resamples, seed)
    except (KeyError, ValueError):
        return None


def differences_markdown(
    state: dict, task: str, records_of: RecordsReader, resamples: int = RESAMPLES, seed: int = SEED
) -> str:
    """The ``COMPARISONS`` of a results state (``evaluation.tasks.evaluate_cells``) per sigma, as a markdown
    section: ``first - second [95% interval]``; ``n/a`` where a cell has no records, blank where a cell is
    missing. Empty when no comparison has both cells."""
    cells = state["cells"]
    sigmas = sorted({s for c in cells.values() for s in c if s != "clean"}, key=float)
    metric = headline_metric(task)
    rows = []
    for first, second in COMPARISONS:
        keys = [s for s in sigmas if s in cells.get(first, {}) and s in cells.get(second, {})]
        if not keys:
            continue
        texts = []
        for key in sigmas:
            difference = cell_difference(records_of, first, second, key, metric, resamples, seed)
            texts.append("" if key not in keys else difference.text() if difference else "n/a")
        rows.append(f"| {first} - {second} | " + " | ".join(texts) + " |")
    if not rows:
        return ""
    unit = "top-1 accuracy" if metric == "top1" else "mIoU"
    return "\n".join(
        [
            "#### Differences (95% bootstrap intervals over images)",
            "",
            f"Difference of {unit} in points, first setting minus second, on the same images and noise; in brackets "
            f"the 95% percentile interval of {resamples} paired resamples of the images (seed {seed}). An interval "
            "that contains 0 does not show a difference; n/a: a cell measured before per-image records were kept.",
            "",
            "| difference | " + " | ".join(f"sigma {s}" for s in sigmas) + " |",
            "| --- |" + " --- |" * len(sigmas),
            *rows,
        ]
    )
