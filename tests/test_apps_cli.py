"""The ``semdenoise`` command, run in-process on a tiny untrained model and tiny images."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, TINY, write_images
from PIL import Image

from keras_semdenoise.apps import cli, denoise_command
from keras_semdenoise.models import shipped
from keras_semdenoise.models.denoiser import build_denoiser


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    """A tiny sigma-25 model saved once per module, in a folder of its own."""
    folder = tmp_path_factory.mktemp("models")
    path = folder / "denoiser_sigma25.keras"
    build_denoiser(**TINY).save(str(path))
    return path


@pytest.fixture
def models_dir(tiny_model_file, monkeypatch):
    """``$SEMDENOISE_MODELS_DIR`` pointing at the tiny model only (never the real shipped ones)."""
    monkeypatch.setenv(shipped.MODELS_ENV, str(tiny_model_file.parent))
    return tiny_model_file.parent


def denoise(*args):
    return cli.main(["denoise", *map(str, args)])


def read(path):
    return np.asarray(Image.open(path))


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_folder_of_every_kind_and_a_single_file(tmp_path, models_dir, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)).save(inputs / "odd.png")
    Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(inputs / "photo.jpg")
    Image.fromarray(np.arange(120, dtype=np.uint16).reshape(10, 12) * 500).save(inputs / "gray16.png")
    Image.fromarray(np.full((9, 11, 4), 90, np.uint8), "RGBA").save(inputs / "rgba.png")
    (inputs / "readme.txt").write_text("not an image: skipped inside folders")
    single = tmp_path / "single.tif"
    Image.fromarray(np.full((6, 6, 3), 30, np.uint8)).save(single)

    code = denoise(inputs, single, "--sigma", 25, "--out", tmp_path / "out" / "nested")
    err = capsys.readouterr().err
    assert code == 0, err
    out = tmp_path / "out" / "nested"
    expected = {"gray16": (10, 12), "odd": (5, 7), "photo": (16, 20), "rgba": (9, 11), "single": (6, 6)}
    assert sorted(os.listdir(out)) == sorted(f"{stem}_denoised.png" for stem in expected)
    for stem, (height, width) in expected.items():
        pixels = read(out / f"{stem}_denoised.png")
        channels = {"gray16": (), "rgba": (4,)}.get(stem, (3,))
        assert pixels.shape == (height, width, *channels)
        assert pixels.dtype in ((np.uint16, np.int32) if stem == "gray16" else (np.uint8,))
    assert f"note: {inputs / 'gray16.png'}: " in err and "16-bit" in err
    assert f"note: {inputs / 'rgba.png'}: " in err and "alpha channel kept" in err
    assert "odd.png" not in err and "error" not in err


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_untrained_identity_model_gives_the_input_back(tmp_path, models_dir, precision):
    # The tiny model starts as the identity (zero-initialised output conv + global skip), so the
    # output must equal the input pixel for pixel: checks orientation, channels, scaling and rounding.
    # In bf16 too: the output conv and the skip stay float32, so the input comes back exactly.
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    assert (
        denoise(
            tmp_path / "x.png", "--sigma", 25, "--out", tmp_path / "out", "--suffix=-clean", f"--precision={precision}"
        )
        == 0
    )
    np.testing.assert_array_equal(read(tmp_path / "out" / "x-clean.png"), read(tmp_path / "x.png"))


def test_unreadable_files_are_reported_and_the_rest_processed(tmp_path, models_dir, capsys):
    inputs = tmp_path / "in"
    write_images(str(inputs), count=2, size=(12, 12))
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code = denoise(inputs, tmp_path / "missing.png", "--sigma", 25, "--out", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    lines = error_lines(err)
    assert len(lines) == 2
    assert any(line.startswith(f"error: {inputs / 'broken.png'}: ") for line in lines)
    assert any("missing.png" in line for line in lines)
    assert sorted(os.listdir(tmp_path / "out")) == ["img00_denoised.png", "img01_denoised.png"]


@pytest.mark.parametrize("sigma", ["abc", "-3", "300", "nan"])
def test_bad_sigma_is_one_clear_line(tmp_path, models_dir, capsys, sigma):
    write_images(str(tmp_path / "in"), count=1)
    assert denoise(tmp_path / "in", "--sigma", sigma, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "sigma" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_or_broken_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(shipped.MODELS_ENV, str(tmp_path / "empty"))
    write_images(str(tmp_path / "in"), count=1)
    common = [tmp_path / "in", "--sigma", 25, "--out", tmp_path / "out"]
    assert denoise(*common) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no shipped denoiser")

    assert denoise(*common, "--model", tmp_path / "nope.keras") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model not found" in err

    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    assert denoise(*common, "--model", tmp_path / "junk.keras") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot load model" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_never_overwrites_an_input(tmp_path, models_dir, capsys):
    inputs = tmp_path / "in"
    (path,) = write_images(str(inputs), count=1, fmt="png")
    before = open(path, "rb").read()
    assert denoise(inputs, "--sigma", 25, "--out", inputs, "--suffix", "") == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "would overwrite an input" in lines[0]
    assert open(path, "rb").read() == before and os.listdir(inputs) == ["img00.png"]

    # The same file under another name (a hard link, a symlink) is still the input.
    out = tmp_path / "out"
    out.mkdir()
    os.link(path, out / "img00_denoised.png")
    assert denoise(path, "--sigma", 25, "--out", out) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    os.remove(out / "img00_denoised.png")
    os.symlink(path, out / "img00_denoised.png")
    assert denoise(path, "--sigma", 25, "--out", out) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert open(path, "rb").read() == before

    # An old output that is not an input is overwritten.
    os.remove(out / "img00_denoised.png")
    (out / "img00_denoised.png").write_bytes(b"old")
    assert denoise(path, "--sigma", 25, "--out", out) == 0
    assert read(out / "img00_denoised.png").shape == (32, 40, 3)


def test_two_inputs_with_one_output_name(tmp_path, models_dir, capsys):
    write_images(str(tmp_path / "in"), count=1, size=(8, 8), fmt="png")
    write_images(str(tmp_path / "in"), count=1, size=(12, 8), fmt="jpg")
    assert denoise(tmp_path / "in", "--sigma", 25, "--out", tmp_path / "out") == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "img00.png" in lines[0] and "img00.jpg" in lines[0]
    assert read(tmp_path / "out" / "img00_denoised.png").shape == (8, 12, 3)  # the first, img00.jpg


def test_nearest_model_notice_quiet_and_explicit_model(tmp_path, models_dir, capsys):
    write_images(str(tmp_path / "in"), count=1, size=(8, 8))
    assert denoise(tmp_path / "in", "--sigma", 30, "--out", tmp_path / "a") == 0
    err = capsys.readouterr().err
    assert "note: no model trained for sigma 30; using the sigma-25 model" in err

    assert denoise(tmp_path / "in", "--sigma", 30, "--out", tmp_path / "b", "--quiet") == 0
    assert capsys.readouterr().err == ""

    code = denoise(
        tmp_path / "in", "--sigma", 30, "--out", tmp_path / "c", "--model", models_dir / "denoiser_sigma25.keras"
    )
    assert code == 0 and "using the" not in capsys.readouterr().err
    assert os.listdir(tmp_path / "c") == ["img00_denoised.png"]


def test_large_images_are_tiled_with_a_tile_progress_callback(tmp_path, models_dir, monkeypatch):
    write_images(str(tmp_path / "in"), count=1, size=(300, 200))
    calls = []
    original = denoise_command._TileProgress.__call__
    monkeypatch.setattr(
        denoise_command._TileProgress,
        "__call__",
        lambda self, done, total: (calls.append((done, total)), original(self, done, total)),
    )
    code = denoise(tmp_path / "in", "--sigma", 25, "--out", tmp_path / "out", "--tile-size", 128, "--overlap", 48)
    assert code == 0
    assert len(calls) > 1 and calls[-1][0] == calls[-1][1]
    # Untrained identity model: tiling must not change a pixel.
    np.testing.assert_array_equal(read(tmp_path / "out" / "img00_denoised.png"), read(tmp_path / "in" / "img00.png"))


def test_self_ensemble_averages_the_eight_views(tmp_path, models_dir, monkeypatch):
    from keras_semdenoise.deploy import inference

    write_images(str(tmp_path / "in"), count=1, size=(40, 24))
    seen = []
    original = inference.denoise
    monkeypatch.setattr(
        inference,
        "denoise",
        lambda *args, **kwargs: (seen.append(kwargs.get("self_ensemble")), original(*args, **kwargs))[1],
    )
    assert denoise(tmp_path / "in", "--sigma", 25, "--out", tmp_path / "out", "--self-ensemble") == 0
    assert seen[0] is True
    # Untrained identity model: every view gives the input back, so does their mean.
    np.testing.assert_array_equal(read(tmp_path / "out" / "img00_denoised.png"), read(tmp_path / "in" / "img00.png"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tile-size", "100", "--overlap", "60"], "at least twice --overlap"),
        (["--tile-size", "130", "--overlap", "48"], "multiples of 4"),
        (["--tile-size", "0"], "--tile-size must be"),
        (["--suffix", "/../x"], "path separator"),
    ],
)
def test_bad_options_are_one_clear_line(tmp_path, models_dir, capsys, extra, message):
    write_images(str(tmp_path / "in"), count=1, size=(8, 8))
    assert denoise(tmp_path / "in", "--sigma", 25, "--out", tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_no_images_and_argparse_errors_return_2(tmp_path, models_dir, capsys):
    (tmp_path / "empty").mkdir()
    assert denoise(tmp_path / "empty", "--sigma", 25, "--out", tmp_path / "out") == 2
    assert error_lines(capsys.readouterr().err)[-1] == "error: no images to denoise"
    assert cli.main(["denoise", str(tmp_path / "empty"), "--sigma", "25"]) == 2  # no --out
    assert "--out" in capsys.readouterr().err
    assert cli.main(["frobnicate"]) == 2


def test_help_is_fast_and_does_not_start_tensorflow():
    check = (
        "import sys; from keras_semdenoise.apps import cli; code = cli.main(['denoise', '--help']); "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'TensorFlow imported'; sys.exit(code)"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    shown = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "--sigma" in shown.stdout and "--tile-size" in shown.stdout
    module = subprocess.run(
        [sys.executable, "-m", "keras_semdenoise", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert module.returncode == 0 and "denoise" in module.stdout


def test_sigma_auto_by_default_says_what_it_chose_and_off_grid_uses_the_blind_model(
    tmp_path, tiny_model_file, monkeypatch, capsys
):
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("denoiser_sigma15.keras", "denoiser_sigma50.keras", "denoiser_blind.keras"):
        shutil.copy(tiny_model_file, folder / name)
    monkeypatch.setenv(shipped.MODELS_ENV, str(folder))
    rng = np.random.default_rng(3)
    smooth = np.full((40, 48, 3), 0.5, np.float32)
    for name, sigma in (("mild", 15.0), ("strong", 50.0), ("between", 30.0)):
        noisy = np.clip(smooth + rng.normal(0, sigma / 255, smooth.shape), 0, 1)
        Image.fromarray((noisy * 255).round().astype(np.uint8)).save(tmp_path / f"{name}.png")
    names = ("mild", "strong", "between")
    assert denoise(*(tmp_path / f"{n}.png" for n in names), "--out", tmp_path / "out") == 0  # no --sigma
    err = capsys.readouterr().err
    assert "mild.png: estimated sigma 1" in err and "-> sigma-15 model (denoiser_sigma15.keras)" in err
    assert "strong.png: estimated sigma " in err and "-> sigma-50 model (denoiser_sigma50.keras)" in err
    assert "between.png: estimated sigma " in err and "-> blind model (denoiser_blind.keras)" in err
    assert sorted(os.listdir(tmp_path / "out")) == sorted(f"{n}_denoised.png" for n in names)
    assert denoise(tmp_path / "mild.png", "--sigma", 35, "--out", tmp_path / "b") == 0
    assert "no model trained for sigma 35; using the blind model" in capsys.readouterr().err
    assert denoise(tmp_path / "mild.png", "--sigma", "AUTO", "--out", tmp_path / "c", "--quiet") == 0
    assert capsys.readouterr().err == ""
