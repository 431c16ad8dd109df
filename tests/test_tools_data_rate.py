"""tools.data_rate: batches per second of the numpy data path by thread count."""

import pytest

from conftest import write_training_folder
from tools import data_rate


def test_every_thread_count_draws_the_batches_and_reports_a_rate(tmp_path):
    data = write_training_folder(tmp_path / "images")
    result = data_rate.measure(data, batch_size=2, patch_size=16, workers=[1, 2], batches=4, repeats=2,
                               sigma_range=(0.0, 75.0))
    rates = result["batches_per_second"]
    assert list(rates) == ["1", "2"]
    for rate in rates.values():
        assert 0 < rate["min"] <= rate["median"] <= rate["max"]
    assert result["batch_size"] == 2 and result["patch_size"] == 16 and result["cpus"] >= 1


def test_bad_counts_are_refused(tmp_path):
    data = write_training_folder(tmp_path / "images")
    with pytest.raises(ValueError, match="must be >= 1"):
        data_rate.measure(data, batch_size=2, patch_size=16, workers=[0], batches=4, repeats=1,
                          sigma_range=(0.0, 75.0))
