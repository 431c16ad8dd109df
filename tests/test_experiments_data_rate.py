"""experiments.zoo.data_rate: batches per second of the numpy data path by thread count."""

import json
import subprocess
import sys

import pytest
from conftest import REPO, write_training_folder

from experiments.zoo import data_rate
from keras_semdenoise.data import patches


def _dataset(folder):
    return patches.PatchDataset(
        patches.parse_sources(folder),
        patch_size=16,
        batch_size=2,
        sigma_range_255=(0.0, 75.0),
        steps_per_epoch=4,
        seed=0,
    )


def test_every_thread_count_draws_the_batches_and_reports_a_rate(tmp_path):
    rates = data_rate.draw_rates(_dataset(write_training_folder(tmp_path / "images")), [1, 2], batches=4, repeats=2)
    assert list(rates) == ["1", "2"]
    for rate in rates.values():
        assert 0 < rate["min"] <= rate["median"] <= rate["max"]
    with pytest.raises(ValueError, match="must be >= 1"):
        data_rate.draw_rates(_dataset(str(tmp_path / "images")), [0], batches=4, repeats=1)


@pytest.mark.slow
def test_the_tool_prints_and_writes_the_rates(tmp_path):
    data = write_training_folder(tmp_path / "images")
    out = tmp_path / "rate.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.zoo.data_rate",
            f"--data_dir={data}",
            "--batch_size=2",
            "--patch_size=16",
            "--batches=3",
            "--passes=1",
            "--workers=1,2",
            f"--rate_out={out}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workers=2:" in result.stdout
    saved = json.loads(out.read_text())
    assert list(saved["batches_per_second"]) == ["1", "2"] and saved["patch_size"] == 16
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.zoo.data_rate", f"--data_dir={data}", "--patch_size=16", "--workers=0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "must be >= 1" in bad.stderr
