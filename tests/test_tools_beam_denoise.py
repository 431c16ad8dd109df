"""``tools.beam_denoise`` on the DirectRunner: ~20 files, every output equal to the CLI's, nothing lost."""

import json
import os

import numpy as np
import pytest
from conftest import TINY
from PIL import Image

from keras_semdenoise.apps import cli
from keras_semdenoise.models import shipped
from keras_semdenoise.models.denoiser import build_denoiser
from tools import beam_denoise


@pytest.fixture(scope="module")
def three_models(tmp_path_factory):
    """Tiny untrained sigma-15 / sigma-50 / blind models with different weights, so the choice shows."""
    import keras

    folder = tmp_path_factory.mktemp("models")
    for seed, name in enumerate(("denoiser_sigma15.keras", "denoiser_sigma50.keras", "denoiser_blind.keras")):
        keras.utils.set_random_seed(seed)
        build_denoiser(**TINY).save(str(folder / name))
    return folder


def _inputs(folder, count=20):
    """``count`` images of several kinds and noise levels, a broken file, a text file and a name clash."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for index in range(count):
        height, width = 24 + 8 * (index % 4), 32 + 8 * (index % 3)
        clean = np.linspace(0.2, 0.8, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
        sigma = (5, 15, 30, 50, 70)[index % 5]
        noisy = (np.clip(clean + rng.normal(0, sigma / 255, clean.shape), 0, 1) * 255).round().astype(np.uint8)
        if index % 7 == 3:
            Image.fromarray(noisy[..., 0], "L").save(folder / f"grey{index:02d}.png")
        elif index % 7 == 5:
            alpha = np.full(noisy.shape[:2] + (1,), 200, np.uint8)
            Image.fromarray(np.concatenate([noisy, alpha], -1), "RGBA").save(folder / f"rgba{index:02d}.png")
        else:
            Image.fromarray(noisy).save(folder / f"img{index:02d}.{'jpg' if index % 4 == 1 else 'png'}")
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "readme.txt").write_text("not an image")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "img00.jpg")  # img00.png's output name


def test_beam_outputs_equal_the_cli_and_failures_are_dead_letters(tmp_path, three_models, monkeypatch, capsys):
    monkeypatch.setenv(shipped.MODELS_ENV, str(three_models))
    inputs = tmp_path / "in"
    _inputs(inputs)
    code = beam_denoise.main(
        ["--input", str(inputs / "*"), "--out", str(tmp_path / "beam"), "--tile-size", "32", "--overlap", "8"]
    )
    assert code == 1  # some files failed, and said so
    images = sorted(p for p in os.listdir(inputs) if p.endswith((".png", ".jpg")) and p != "broken.png")
    assert len(images) == 21
    assert (
        cli.main(
            ["denoise", str(inputs), "--out", str(tmp_path / "cli"), "--tile-size", "32", "--overlap", "8", "--quiet"]
        )
        == 1
    )
    cli_outputs = sorted(os.listdir(tmp_path / "cli"))
    beam_outputs = sorted(p for p in os.listdir(tmp_path / "beam") if p.endswith(".png"))
    assert beam_outputs == cli_outputs and len(cli_outputs) == 20
    for name in cli_outputs:
        ours, theirs = Image.open(tmp_path / "beam" / name), Image.open(tmp_path / "cli" / name)
        assert ours.mode == theirs.mode, name
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=name)

    manifest = [json.loads(line) for line in (tmp_path / "beam" / "manifest.jsonl").read_text().splitlines()]
    failed = [json.loads(line) for line in (tmp_path / "beam" / "failed.jsonl").read_text().splitlines()]
    assert sorted(os.path.basename(m["output"]) for m in manifest) == cli_outputs
    assert {m["model"] for m in manifest} == {
        "denoiser_sigma15.keras",
        "denoiser_sigma50.keras",
        "denoiser_blind.keras",
    }
    reasons = {os.path.basename(f["input"]): (f["stage"], f["reason"]) for f in failed}
    assert set(reasons) == {"broken.png", "readme.txt", "img00.png"}
    assert reasons["broken.png"][0] == "read" and "not an image file" in reasons["broken.png"][1]
    assert reasons["readme.txt"][0] == "match"
    assert reasons["img00.png"][0] == "plan" and "img00.jpg" in reasons["img00.png"][1]
    matched = len(os.listdir(inputs))
    assert len(manifest) + len(failed) == matched  # every file is in exactly one of the two
    assert "3 failed" in capsys.readouterr().out


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert beam_denoise.main(["--input", str(tmp_path / "*.png"), "--out", str(tmp_path / "o"), "--sigma", "-3"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
