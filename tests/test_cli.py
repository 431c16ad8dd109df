import os

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, write_images
from keras_semdenoise import cli, inference
from keras_semdenoise.denoiser import build_denoiser


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    build_denoiser(**TINY).save(str(folder / "denoiser_sigma25.keras"))
    monkeypatch.setenv(inference.MODELS_ENV, str(folder))
    return folder


def test_denoises_files_and_folders_of_every_kind(tmp_path, models_dir, capsys):
    inputs = tmp_path / "in"
    write_images(str(inputs), count=1, size=(7, 5))
    write_images(str(inputs), count=1, size=(20, 16), fmt="jpg")
    Image.fromarray((np.arange(120, dtype=np.uint16).reshape(10, 12) * 400)).save(inputs / "gray16.png")
    Image.fromarray(np.full((9, 11, 4), 90, np.uint8), "RGBA").save(inputs / "rgba.png")
    single = tmp_path / "single.tif"
    Image.fromarray(np.full((6, 6, 3), 30, np.uint8)).save(single)
    code = cli.main(["denoise", str(inputs), str(single), "--sigma", "25", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    outputs = sorted(os.listdir(tmp_path / "out"))
    assert outputs == ["gray16_denoised.png", "img00_denoised.png", "rgba_denoised.png", "single_denoised.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "img00_denoised.png")).shape == (5, 7, 3)
    assert "gray16.png" in err and "alpha channel dropped" in err


def test_unreadable_file_is_reported_and_the_rest_processed(tmp_path, models_dir, capsys):
    inputs = tmp_path / "in"
    write_images(str(inputs), count=2, size=(12, 12))
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code = cli.main(["denoise", str(inputs), str(tmp_path / "missing.png"), "--sigma", "25",
                     "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.png" in err and "missing.png" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path / "out")) == ["img00_denoised.png", "img01_denoised.png"]


@pytest.mark.parametrize("sigma", ["abc", "-3", "300", "nan"])
def test_bad_sigma_is_one_clear_line(tmp_path, models_dir, capsys, sigma):
    write_images(str(tmp_path / "in"), count=1)
    assert cli.main(["denoise", str(tmp_path / "in"), "--sigma", sigma, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sigma" in err and "Traceback" not in err


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(inference.MODELS_ENV, str(tmp_path / "empty"))
    write_images(str(tmp_path / "in"), count=1)
    assert cli.main(["denoise", str(tmp_path / "in"), "--sigma", "25", "--out", str(tmp_path / "out")]) == 2
    assert "no shipped denoiser" in capsys.readouterr().err
    assert cli.main(["denoise", str(tmp_path / "in"), "--sigma", "25", "--out", str(tmp_path / "out"),
                     "--model", str(tmp_path / "nope.keras")]) == 2
    assert "model not found" in capsys.readouterr().err


def test_never_overwrites_an_input(tmp_path, models_dir, capsys):
    inputs = tmp_path / "in"
    (path,) = write_images(str(inputs), count=1, fmt="png")
    before = open(path, "rb").read()
    code = cli.main(["denoise", str(inputs), "--sigma", "25", "--out", str(inputs), "--suffix", ""])
    assert code == 1 and "overwrite an input" in capsys.readouterr().err
    assert open(path, "rb").read() == before


def test_nearest_model_notice_and_explicit_model(tmp_path, models_dir, capsys):
    write_images(str(tmp_path / "in"), count=1)
    assert cli.main(["denoise", str(tmp_path / "in"), "--sigma", "30", "--out", str(tmp_path / "a")]) == 0
    assert "using the sigma-25 model" in capsys.readouterr().err
    code = cli.main(["denoise", str(tmp_path / "in"), "--sigma", "30", "--out", str(tmp_path / "b"),
                     "--model", str(models_dir / "denoiser_sigma25.keras")])
    assert code == 0 and "using the" not in capsys.readouterr().err


def test_large_images_are_tiled(tmp_path, models_dir):
    write_images(str(tmp_path / "in"), count=1, size=(300, 200))
    code = cli.main(["denoise", str(tmp_path / "in"), "--sigma", "25", "--out", str(tmp_path / "out"),
                     "--tile-size", "128", "--overlap", "48", "--quiet"])
    assert code == 0
    assert np.asarray(Image.open(tmp_path / "out" / "img00_denoised.png")).shape == (200, 300, 3)
