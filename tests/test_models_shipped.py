import os

import numpy as np
import pytest
from conftest import TINY

from keras_semdenoise import noise
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import shipped
from keras_semdenoise.models.denoiser import build_denoiser
from keras_semdenoise.training import ship


def test_shipped_model_lookup(tmp_path, monkeypatch):
    model = build_denoiser(**TINY, zero_init_output=False)
    with pytest.raises(FileNotFoundError, match="no shipped denoiser"):
        shipped.shipped_model_for_sigma(25, str(tmp_path))
    model.save(str(tmp_path / "denoiser_sigma25.keras"))
    model.save(str(tmp_path / "denoiser_sigma50.keras"))
    monkeypatch.setenv(shipped.MODELS_ENV, str(tmp_path))
    path, notice = shipped.shipped_model_for_sigma(25)
    assert path.endswith("denoiser_sigma25.keras") and notice is None
    path, notice = shipped.shipped_model_for_sigma(45)
    assert path.endswith("denoiser_sigma50.keras") and "sigma-50" in notice
    loaded = inference.load_denoiser(path)
    x = np.random.default_rng(1).uniform(size=(20, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(inference.denoise(loaded, x), inference.denoise(model, x), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        inference.load_denoiser(str(tmp_path / "nothing.keras"))


def test_models_dir_lookup_order(tmp_path, monkeypatch):
    """``$SEMDENOISE_MODELS_DIR``, then a wheel's own copy, then the checkout's ``saved_models/``."""
    installed, checkout = tmp_path / "installed", tmp_path / "checkout"
    monkeypatch.setattr(shipped, "INSTALLED_MODELS_DIR", str(installed))
    monkeypatch.setattr(shipped, "CHECKOUT_MODELS_DIR", str(checkout))
    monkeypatch.delenv(shipped.MODELS_ENV, raising=False)
    assert shipped.models_dir() == str(checkout)  # the answer (and the error message) when none exists
    installed.mkdir()
    checkout.mkdir()
    assert shipped.models_dir() == str(installed)
    monkeypatch.setenv(shipped.MODELS_ENV, str(tmp_path / "mine"))
    assert shipped.models_dir() == str(tmp_path / "mine")


def test_the_checkout_has_no_installed_copy():
    """A source checkout or editable install reads the repo's saved_models/ (the build copies into build/)."""
    assert not os.path.isdir(shipped.INSTALLED_MODELS_DIR)
    assert os.path.isfile(os.path.join(shipped.CHECKOUT_MODELS_DIR, shipped.BLIND_MODEL))


def test_choose_model_for_sigma_rules(tmp_path):
    for name in ("denoiser_sigma15.keras", "denoiser_sigma25.keras", "denoiser_sigma50.keras", "denoiser_blind.keras"):
        (tmp_path / name).write_bytes(b"")
    pick = lambda sigma, rule: os.path.basename(shipped.choose_model_for_sigma(sigma, rule, str(tmp_path))[0])
    assert pick(2.0, "nearest") == "denoiser_sigma15.keras" and pick(36.0, "nearest") == "denoiser_sigma25.keras"
    assert pick(38.0, "next_up") == "denoiser_sigma50.keras" and pick(80.0, "next_up") == "denoiser_sigma50.keras"
    assert pick(23.0, "snap") == "denoiser_sigma25.keras" and pick(38.0, "snap") == "denoiser_blind.keras"
    assert pick(0.7, "snap") == "denoiser_sigma15.keras" and pick(6.0, "snap") == "denoiser_blind.keras"
    assert pick(25.0, "blind") == "denoiser_blind.keras"
    assert shipped.choose_model_for_sigma(38.0, "snap", str(tmp_path))[1] == "blind model"
    with pytest.raises(ValueError, match="rule"):
        shipped.choose_model_for_sigma(10.0, "guess", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        shipped.choose_model_for_sigma(10.0, "nearest", str(tmp_path / "empty"))


def _three_models(folder):
    for name in ("denoiser_sigma15.keras", "denoiser_sigma25.keras", "denoiser_blind.keras"):
        (folder / name).write_bytes(b"")
    return str(folder)


def test_resolve_model_is_the_one_choice_of_every_front_end(tmp_path):
    folder = _three_models(tmp_path)
    exact = shipped.resolve_model(sigma_255="25", folder=folder)
    assert exact.path.endswith("denoiser_sigma25.keras") and exact.notice is None
    assert exact.reason == "sigma-25 model" and exact.estimate is None
    other = shipped.resolve_model(sigma_255=30.0, folder=folder)
    assert other.path.endswith(shipped.BLIND_MODEL) and other.notice == shipped.shipped_model_for_sigma(30.0, folder)[1]
    assert other.reason == other.notice and "using the blind model" in other.notice
    # One fallback rule for a level without its own model: the blind model where shipped, else the nearest.
    assert shipped.shipped_model_for_sigma(30.0, folder)[0] == other.path
    os.remove(os.path.join(folder, shipped.BLIND_MODEL))
    path, notice = shipped.shipped_model_for_sigma(30.0, folder)
    assert path.endswith("denoiser_sigma25.keras") and "using the sigma-25 model" in notice
    (tmp_path / shipped.BLIND_MODEL).write_bytes(b"")
    clean = np.full((64, 64, 3), 0.5, np.float32)
    noisy = noise.add_seeded_gaussian_noise(clean, 25.0, "flat")
    auto = shipped.resolve_model(sigma_255=" Auto ", pixels=noisy, folder=folder)
    assert auto.estimate == noise.estimate_sigma(noisy)
    assert (auto.path, auto.reason) == shipped.choose_model_for_sigma(auto.estimate, folder=folder)
    assert auto.description == f"estimated sigma {auto.estimate:.1f} -> {auto.reason} ({os.path.basename(auto.path)})"
    assert shipped.resolve_model(None, None, noisy, folder=folder) == auto
    mine = tmp_path / "mine.keras"
    mine.write_bytes(b"")
    assert shipped.resolve_model(str(mine), "auto") == shipped.ModelChoice(str(mine))
    with pytest.raises(FileNotFoundError, match="model not found"):
        shipped.resolve_model(str(tmp_path / "none.keras"))
    with pytest.raises(ValueError, match="image"):
        shipped.resolve_model(sigma_255="auto", folder=folder)
    with pytest.raises(ValueError, match="sigma"):
        shipped.resolve_model(sigma_255="loud", folder=folder)


def test_auto_choice_name_names_the_shipped_model(tmp_path):
    folder = _three_models(tmp_path)
    assert shipped.auto_choice_name(24.0, folder=folder) == "sigma25"
    assert shipped.auto_choice_name(40.0, "snap", folder) == "blind"
    assert shipped.auto_choice_name(40.0, "nearest", folder) == "sigma25"
    assert shipped.auto_choice_name(1.0, folder=folder) == "sigma15"


def test_the_data_of_a_run_is_named_by_its_folders_and_weights():
    assert ship.data_description("/d/CBSD432") == "CBSD432"
    assert ship.data_description("/d/CBSD432:0.71,/d/extra_train/T91:0.15") == "CBSD432:0.71,T91:0.15"
    assert ship.data_description("packed:.gpu/CBSD432.npz") == "CBSD432 (packed)"  # the GPU runs' data
    assert ship.data_description("") == ""
