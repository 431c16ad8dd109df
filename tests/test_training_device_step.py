"""The GPU slot's device training step (``training.device_step``): packing here, the drawn batches and a short
training run on CPU JAX in a subprocess (the suite runs Keras on TensorFlow)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO

from keras_semdenoise.training import device_step


def test_device_images_turn_portraits_to_landscape_and_weight_sources():
    landscape = np.full((4, 6, 3), 7, np.uint8)
    portrait = np.arange(6 * 5 * 3, dtype=np.uint8).reshape(6, 5, 3)
    packed = device_step.device_images([[landscape], [portrait, landscape]], [1.0, 3.0])
    assert packed.pixels.shape == (3, 5, 6, 3) and packed.pixels.dtype == np.uint8
    assert packed.heights.tolist() == [4, 5, 4] and packed.widths.tolist() == [6, 6, 6]
    np.testing.assert_array_equal(packed.pixels[1], portrait.transpose(1, 0, 2))
    assert (packed.pixels[0, 4:] == 0).all()  # padding beyond a 4-row image
    np.testing.assert_allclose(packed.probabilities, [0.25, 0.375, 0.375])
    with pytest.raises(ValueError, match="weights must be >= 0"):
        device_step.device_images([[landscape]], [0.0])
    with pytest.raises(ValueError, match="non-empty"):
        device_step.device_images([[landscape], []])


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="checks the error on another backend")
def test_device_step_says_it_needs_jax():
    images = device_step.device_images([[np.zeros((20, 20, 3), np.uint8)]])
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        device_step.DeviceStep(keras.Sequential(), images, 16, 2, sigma_255=25)


def test_the_module_imports_without_jax(tmp_path):
    hide = tmp_path / "hide_jax" / "jax"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text('raise ImportError("no JAX on this machine (test)")\n')
    script = "import keras_semdenoise.training.device_step as d; print(d.DeviceStep.__name__)"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "hide_jax"), "KERAS_BACKEND": "tensorflow"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "DeviceStep" in result.stdout, result.stderr[-2000:]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pytest.importorskip("jax", reason="jax comes with the test extras (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("device_step") / "report.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = os.path.join(REPO, "tests", "device_step_script.py")
    result = subprocess.run(
        [sys.executable, script, str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_a_drawn_batch_is_the_host_definitions_example(report):
    assert report["backend"] == "cpu"
    assert report["shapes"]["noisy"] == report["shapes"]["clean"] == [8, 16, 16, 3]
    assert report["dtypes"]["noisy"] == report["dtypes"]["clean"] == "float32"
    assert 0.0 <= report["clean_range"][0] < report["clean_range"][1] <= 1.0
    # The clean patch is patches.dihedral of the crop at the drawn image, top and left, / 255 (to rounding).
    assert report["patch_error_to_host_definition"] < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["fixed", "range"])
def test_draws_follow_the_host_pipelines_distribution(report, noise):
    stats, many = report[noise], 4000
    # Every flip/rotation about 1/8 (binomial sd about 21 of 500), every image by its source's weight.
    assert all(abs(count - many / 8) < 100 for count in stats["dihedral_frequencies"])
    expected = np.asarray(report["probabilities"]) * many
    assert np.all(np.abs(np.asarray(stats["image_frequencies"]) - expected) < 5 * np.sqrt(expected))
    # Crops anywhere inside each image: all 25 tops of a 40-row image, all 33 lefts of a 48-column one.
    assert stats["tops_seen"] == list(range(25)) and stats["lefts_seen_48"] == list(range(33))
    assert stats["crops_inside"]
    assert stats["noise_std_over_sigma"] == pytest.approx(1.0, abs=0.01)
    if noise == "fixed":
        assert stats["sigma_range"] == [25.0, 25.0]
    else:
        assert 5.0 <= stats["sigma_range"][0] < 6.0 and 49.0 < stats["sigma_range"][1] <= 50.0
        assert stats["sigma_mean"] == pytest.approx(27.5, abs=1.0)


@pytest.mark.slow
def test_the_loss_falls_and_the_batches_do_not_depend_on_grouping(report):
    losses = report["losses"]
    assert len(losses) == 20 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.92 * np.mean(losses[:5]), losses
    # Five steps per compiled call give the same steps as one per call (each step's key is fold_in(key, step)).
    np.testing.assert_allclose(report["losses_5_per_call"], losses[:10], rtol=1e-5)
    assert report["weights_changed"]


@pytest.mark.slow
def test_the_draw_and_the_step_are_timed(report):
    timing = report["timing"]
    assert 0 < timing["draw_seconds"] and 0 < timing["step_seconds"]
    assert timing["draw_share"] == pytest.approx(timing["draw_seconds"] / timing["step_seconds"])
