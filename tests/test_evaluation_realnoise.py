import os

import numpy as np
import pytest
from conftest import TINY, run_module, write_images
from PIL import Image

from keras_semdenoise import metrics, noise
from keras_semdenoise.evaluation import realnoise as tool
from keras_semdenoise.models.denoiser import build_denoiser


def _nam25(root, count=2, size=(24, 16)):
    """A Nam25-shaped paired set: ``realnoise/Nam25/{noisy/NN_noise.png, gt/NN_gt.png}``."""
    folder = os.path.join(root, "realnoise", "Nam25")
    clean = write_images(os.path.join(folder, "gt"), count, size)
    rng = np.random.default_rng(1)
    os.makedirs(os.path.join(folder, "noisy"))
    for index, path in enumerate(clean):
        pixels = np.asarray(Image.open(path), np.float32)
        noisy = np.clip(pixels + rng.normal(0, 4, pixels.shape), 0, 255).round().astype(np.uint8)
        Image.fromarray(noisy).save(os.path.join(folder, "noisy", f"{index + 1:02d}_noise.png"))
        os.rename(path, os.path.join(folder, "gt", f"{index + 1:02d}_gt.png"))


def test_measure_pairs_measures_every_method_resumes_and_tables(tmp_path, monkeypatch):
    root, models_dir = str(tmp_path / "data"), tmp_path / "models"
    _nam25(root)
    models_dir.mkdir()
    models = {}
    for sigma in (15, 25):
        path = str(models_dir / f"denoiser_sigma{sigma}.keras")
        build_denoiser(zero_init_output=False, **TINY).save(path)
        models[f"sigma{sigma}"] = path
    calls = []
    monkeypatch.setattr(tool.cbm3d, "cbm3d_denoise", lambda image, sigma: calls.append(sigma) or image)
    results = str(tmp_path / "out" / "results.json")
    state = tool.measure_pairs(root, ["Nam25"], 0, models, str(models_dir), "fp32", True, results)
    cells = state["results"]["Nam25"]
    assert set(cells) == {tool.NOISY, tool.CBM3D, "sigma15", "sigma25", tool.AUTO}
    noisy = np.asarray(Image.open(os.path.join(root, "realnoise", "Nam25", "noisy", "01_noise.png")), np.float32) / 255
    clean = np.asarray(Image.open(os.path.join(root, "realnoise", "Nam25", "gt", "01_gt.png")), np.float32) / 255
    entry = cells[tool.NOISY]["images"]["01"]
    assert entry["psnr"] == pytest.approx(metrics.psnr_uint8(clean, noisy)) and entry["pixels"] == 24 * 16
    assert calls == [pytest.approx(noise.estimate_sigma(noisy)), pytest.approx(state["estimates"]["Nam25"]["02"])]
    assert cells[tool.AUTO]["images"]["01"]["model"] in ("sigma15", "sigma25")
    # Run again: everything is kept, nothing is measured twice.
    again = tool.measure_pairs(root, ["Nam25"], 0, models, str(models_dir), "fp32", True, results)
    assert len(calls) == 2 and again["results"]["Nam25"]["sigma15"] == cells["sigma15"]
    table = tool.markdown(again, "python -m tools.evaluate_realnoise")
    assert "| Nam25 (2 pairs) |" in table.replace("| method | ", "| ") and "(best fixed)" in table


@pytest.mark.slow
def test_the_tool_writes_the_table_from_the_command_line(tmp_path):
    root, models_dir, out = str(tmp_path / "data"), tmp_path / "models", tmp_path / "out"
    _nam25(root)
    models_dir.mkdir()
    build_denoiser(**TINY).save(str(models_dir / "denoiser_sigma15.keras"))
    result = run_module(
        [
            "tools.evaluate_realnoise",
            f"--data_root={root}",
            "--sets=Nam25",
            "--nogrid",
            "--nocbm3d",
            f"--models_dir={models_dir}",
            "--precision=fp32",
            f"--out={out}",
        ]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = (out / "results.md").read_text()
    assert (
        "| ours: sigma15 model | " in table and "(best fixed)" in table and "| CBM3D (estimated sigma) |" not in table
    )
