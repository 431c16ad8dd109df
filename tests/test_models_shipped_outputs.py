"""Every shipped ``.keras`` file loads after ``import keras_semdenoise`` and gives the outputs recorded before the
package was restructured (``fixtures/shipped_outputs.json``: means, spreads and 32 sampled values of each model's
output on one seeded input), so moving modules never changes what a saved model computes."""

import json
import os

import keras
import numpy as np
import pytest
from conftest import REPO

import keras_semdenoise  # noqa: F401 - registers the custom layers

RECORD = json.load(open(os.path.join(os.path.dirname(__file__), "fixtures", "shipped_outputs.json")))


@pytest.mark.parametrize("relative_path", sorted(RECORD["models"]))
def test_shipped_model_gives_its_recorded_output(relative_path):
    record = RECORD["models"][relative_path]
    x = np.random.default_rng(RECORD["input"]["seed"]).random(RECORD["input"]["shape"], dtype=np.float32)
    model = keras.saving.load_model(os.path.join(REPO, relative_path), compile=False)
    y = np.asarray(model(x, training=False), dtype=np.float64)
    assert list(y.shape) == record["shape"]
    np.testing.assert_allclose(y.reshape(-1)[RECORD["sample_indices"]], record["samples"], atol=2e-5)
    assert y.mean() == pytest.approx(record["mean"], abs=2e-6) and y.std() == pytest.approx(record["std"], abs=2e-6)


def test_every_shipped_model_is_recorded():
    shipped = [
        os.path.relpath(os.path.join(folder, name), REPO)
        for folder in (os.path.join(REPO, "saved_models"), os.path.join(REPO, "saved_models", "peers"))
        for name in os.listdir(folder)
        if name.endswith(".keras")
    ]
    assert sorted(shipped) == sorted(RECORD["models"])
