"""experiments/probes/batch_norm_stats.py and batch_norm.py: moving statistics re-estimated on other batches."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, TINY, write_training_folder

from experiments.probes import batch_norm_stats as batch_norm
from keras_semdenoise.models.denoiser import build_denoiser


def test_reestimated_statistics_are_the_plain_mean_over_the_batches_and_go_back():
    model = build_denoiser(**TINY)
    shipped = batch_norm.moving_statistics(model)
    momenta = [layer.momentum for layer in batch_norm.batch_norm_layers(model)]
    first_layer = batch_norm.batch_norm_layers(model)[0]
    rng = np.random.default_rng(0)
    batches = [rng.uniform(size=(2, 16, 16, 3)).astype("float32") for _ in range(3)]
    assert batch_norm.reestimate(model, iter(batches)) == 3
    # The first layer's input is a function of each batch alone: its statistics, averaged with weight 1/3 each.
    probe = build_denoiser(**TINY)
    probe.set_weights(model.get_weights())
    means = []
    for batch in batches:
        batch_norm.set_moving_statistics(probe, shipped)
        batch_norm.reestimate(probe, [batch])
        means.append(np.array(batch_norm.batch_norm_layers(probe)[0].moving_mean))
    np.testing.assert_allclose(np.array(first_layer.moving_mean), np.mean(means, axis=0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(np.array(first_layer.moving_mean), shipped[0][0])
    assert [layer.momentum for layer in batch_norm.batch_norm_layers(model)] == momenta
    batch_norm.set_moving_statistics(model, shipped)
    np.testing.assert_array_equal(np.array(first_layer.moving_mean), shipped[0][0])


@pytest.mark.slow
def test_the_tool_measures_each_batch_shape_against_the_shipped_statistics(tmp_path):
    model_path = str(tmp_path / "tiny.keras")
    build_denoiser(**TINY).save(model_path)
    data = write_training_folder(tmp_path / "images")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "experiments.probes.batch_norm",
        f"--model={model_path}",
        "--sigma=25",
        f"--data_dir={data}",
        "--batches=2x16:2,1x24:1",
        f"--out={out}",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    saved = json.loads((out / "results.json").read_text())
    assert saved["validation_images"] == 1 and len(saved["reestimated"]) == 2
    first = saved["reestimated"][0]
    assert (first["batch_size"], first["patch_size"], first["batches"]) == (2, 16, 2)
    assert first["change"] == pytest.approx(first["psnr"] - saved["shipped_psnr"])
    text = (out / "results.md").read_text()
    assert "| 2 batches of 2 x 16x16 |" in text and saved["model_identity"] in text
    bad = subprocess.run([*command[:-2], "--batches=32by48"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "BATCHxPATCH:COUNT" in bad.stderr
