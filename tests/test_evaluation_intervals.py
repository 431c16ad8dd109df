import numpy as np
import pytest

from keras_semdenoise import metrics
from keras_semdenoise.evaluation import intervals


def _classification(rate, count, seed):
    right = np.random.default_rng(seed).random(count) < rate
    return {"top1": right, "top5": right | (np.arange(count) % 2 == 0)}


def _segmentation(count, classes=4, seed=0):
    return {"confusion": np.random.default_rng(seed).integers(0, 20, (count, classes, classes))}


def _slow_reference(first, second, metric, resamples, seed):
    """One resample at a time, images indexed directly: what paired_bootstrap vectorises."""
    rng = np.random.default_rng(seed)
    count = len(next(iter(first.values())))

    def score(records, chosen):
        if metric == "miou":
            return 100.0 * metrics.mean_iou(records["confusion"][chosen].sum(0))
        return 100.0 * records[metric][chosen].mean()

    observed = score(first, np.arange(count)) - score(second, np.arange(count))
    differences = []
    for _ in range(resamples):
        chosen = rng.integers(0, count, count)
        differences.append(score(first, chosen) - score(second, chosen))
    return observed, *np.percentile(differences, [2.5, 97.5])


@pytest.mark.parametrize("metric", ["top1", "miou"])
def test_paired_bootstrap_equals_a_slow_reference(metric, monkeypatch):
    monkeypatch.setattr(intervals, "_BLOCK_ELEMENTS", 7 * 30)  # several blocks: the draws stay in order
    if metric == "top1":
        first, second = _classification(0.7, 30, 1), _classification(0.5, 30, 2)
    else:
        first, second = _segmentation(30, seed=1), _segmentation(30, seed=2)
    difference = intervals.paired_bootstrap(first, second, metric, resamples=50, seed=3)
    expected = _slow_reference(first, second, metric, 50, 3)
    np.testing.assert_allclose((difference.observed, difference.low, difference.high), expected, rtol=1e-12)
    assert difference.images == 30


def test_interval_contains_the_difference_and_narrows_with_more_images():
    few = intervals.paired_bootstrap(_classification(0.7, 200, 1), _classification(0.6, 200, 2), "top1")
    many = intervals.paired_bootstrap(_classification(0.7, 5000, 1), _classification(0.6, 5000, 2), "top1")
    for difference in (few, many):
        assert difference.low < difference.observed < difference.high
    assert many.high - many.low < 0.5 * (few.high - few.low)  # width ~ 1 / sqrt(images): 5x narrower
    assert 5 < many.observed < 15 and many.low > 0


def test_identical_cells_differ_by_zero_and_the_seed_fixes_the_interval():
    cell = _segmentation(12)
    assert intervals.paired_bootstrap(cell, cell, "miou").text() == "+0.0 [+0.0, +0.0]"
    first, second = _classification(0.8, 333, 1), _classification(0.6, 333, 2)
    assert intervals.paired_bootstrap(first, second, "top5") == intervals.paired_bootstrap(first, second, "top5")
    reseeded = intervals.paired_bootstrap(first, second, "top1", seed=1)
    assert reseeded != intervals.paired_bootstrap(first, second, "top1")
    with pytest.raises(ValueError, match="same images"):
        intervals.paired_bootstrap(first, _classification(0.6, 334, 2), "top1")


def test_psnr_differences_are_in_db():
    first, second = {"psnr": np.full(8, 30.0)}, {"psnr": np.full(8, 28.5)}
    assert intervals.paired_bootstrap(first, second, "psnr").text(2) == "+1.50 [+1.50, +1.50]"
    assert intervals.cell_score(first, "psnr") == 30.0


def test_differences_section_marks_cells_without_records():
    cell = {"top1": 50.0, "top5": 90.0, "images": 40}
    state = {"cells": {"noisy": {"15": cell, "30": cell}, "separate": {"15": cell, "30": cell}, "joint": {"15": cell}}}
    records = {
        ("noisy", "15"): _classification(0.5, 40, 1),
        ("separate", "15"): _classification(0.8, 40, 2),
        ("joint", "15"): _classification(0.8, 40, 2),
        ("noisy", "30"): _classification(0.3, 40, 3),
    }
    text = intervals.differences_markdown(state, "classification", lambda s, k: records.get((s, k)))
    lines = text.splitlines()
    assert lines[0] == "#### Differences (95% bootstrap intervals over images)"
    assert "| difference | sigma 15 | sigma 30 |" in lines
    separate = next(line for line in lines if line.startswith("| separate - noisy |"))
    expected = intervals.paired_bootstrap(records["separate", "15"], records["noisy", "15"], "top1").text()
    assert separate == f"| separate - noisy | {expected} | n/a |"  # sigma 30: separate has no records
    assert "| joint - separate | +0.0 [+0.0, +0.0] |  |" in lines  # no joint cell at sigma 30
    assert not any(line.startswith("| cbm3d") for line in lines)
    assert intervals.differences_markdown({"cells": {"noisy": {"15": cell}}}, "classification", records.get) == ""
