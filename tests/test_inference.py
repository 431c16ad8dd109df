import os

import numpy as np
import pytest

from keras_semdenoise import inference
from keras_semdenoise.denoiser import build_denoiser


@pytest.fixture(scope="module")
def model():
    return build_denoiser(stem_filters=8, encoder_filters=(8, 8), decoder_filters=(16,), zero_init_output=False)


def test_tiled_inference_matches_whole_image(model):
    image = np.random.default_rng(0).uniform(size=(301, 263, 3)).astype(np.float32)
    whole = inference.denoise_whole(model, image)
    calls = []
    tiled = inference.denoise_tiled(model, image, tile_size=192, overlap=96, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 4 and calls[-1][0] == calls[-1][1]
    assert np.abs(whole - image).max() > 1e-2  # the model is not the identity
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_tiles_cover_the_image_with_aligned_origins():
    for height, width in [(10, 10), (700, 513), (1000, 1203)]:
        covered = np.zeros((height, width), int)
        for y0, y1, x0, x1 in inference.tile_grid(height, width, 256, 96, 4):
            assert y0 % 4 == 0 and x0 % 4 == 0
            covered[y0:y1, x0:x1] += 1
        assert covered.min() >= 1


def test_bad_tiling_arguments(model):
    with pytest.raises(ValueError):
        inference.denoise_tiled(model, np.zeros((50, 50, 3), np.float32), tile_size=64, overlap=48)
    with pytest.raises(ValueError, match="RGB"):
        inference.denoise(model, np.zeros((50, 50), np.float32))


def test_shipped_model_lookup(tmp_path, model, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no shipped denoiser"):
        inference.shipped_model_for_sigma(25, str(tmp_path))
    model.save(str(tmp_path / "denoiser_sigma25.keras"))
    model.save(str(tmp_path / "denoiser_sigma50.keras"))
    monkeypatch.setenv(inference.MODELS_ENV, str(tmp_path))
    path, notice = inference.shipped_model_for_sigma(25)
    assert path.endswith("denoiser_sigma25.keras") and notice is None
    path, notice = inference.shipped_model_for_sigma(45)
    assert path.endswith("denoiser_sigma50.keras") and "sigma-50" in notice
    loaded = inference.load_denoiser(path)
    x = np.random.default_rng(1).uniform(size=(20, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(inference.denoise(loaded, x), inference.denoise(model, x), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        inference.load_denoiser(str(tmp_path / "nothing.keras"))


def test_models_dir_lookup_order(tmp_path, monkeypatch):
    """``$SEMDENOISE_MODELS_DIR``, then a wheel's own copy, then the checkout's ``saved_models/``."""
    installed, checkout = tmp_path / "installed", tmp_path / "checkout"
    monkeypatch.setattr(inference, "INSTALLED_MODELS_DIR", str(installed))
    monkeypatch.setattr(inference, "CHECKOUT_MODELS_DIR", str(checkout))
    monkeypatch.delenv(inference.MODELS_ENV, raising=False)
    assert inference.models_dir() == str(checkout)  # the answer (and the error message) when none exists
    installed.mkdir()
    checkout.mkdir()
    assert inference.models_dir() == str(installed)
    monkeypatch.setenv(inference.MODELS_ENV, str(tmp_path / "mine"))
    assert inference.models_dir() == str(tmp_path / "mine")


def test_the_checkout_has_no_installed_copy():
    """A source checkout or editable install reads the repo's saved_models/ (the build copies into build/)."""
    assert not os.path.isdir(inference.INSTALLED_MODELS_DIR)
    assert os.path.isfile(os.path.join(inference.CHECKOUT_MODELS_DIR, inference.BLIND_MODEL))


def test_self_ensemble_inverts_every_transform(model):
    image = np.random.default_rng(3).uniform(size=(21, 34, 3)).astype(np.float32)
    from keras_semdenoise.denoiser import build_denoiser as build

    identity = build(stem_filters=8, encoder_filters=(8, 8), decoder_filters=(16,))  # zero output conv
    np.testing.assert_allclose(inference.denoise(identity, image, self_ensemble=True), image, atol=1e-6)
    ensembled = inference.denoise(model, image, self_ensemble=True)
    assert ensembled.shape == image.shape
    assert np.abs(ensembled - inference.denoise(model, image)).max() > 1e-4


def test_choose_model_for_sigma_rules(tmp_path):
    import pytest

    from keras_semdenoise import inference

    for name in ("denoiser_sigma15.keras", "denoiser_sigma25.keras", "denoiser_sigma50.keras", "denoiser_blind.keras"):
        (tmp_path / name).write_bytes(b"")
    pick = lambda sigma, rule: os.path.basename(inference.choose_model_for_sigma(sigma, rule, str(tmp_path))[0])
    assert pick(2.0, "nearest") == "denoiser_sigma15.keras" and pick(36.0, "nearest") == "denoiser_sigma25.keras"
    assert pick(38.0, "next_up") == "denoiser_sigma50.keras" and pick(80.0, "next_up") == "denoiser_sigma50.keras"
    assert pick(23.0, "snap") == "denoiser_sigma25.keras" and pick(38.0, "snap") == "denoiser_blind.keras"
    assert pick(0.7, "snap") == "denoiser_sigma15.keras" and pick(6.0, "snap") == "denoiser_blind.keras"
    assert pick(25.0, "blind") == "denoiser_blind.keras"
    assert inference.choose_model_for_sigma(38.0, "snap", str(tmp_path))[1] == "blind model"
    with pytest.raises(ValueError, match="rule"):
        inference.choose_model_for_sigma(10.0, "guess", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        inference.choose_model_for_sigma(10.0, "nearest", str(tmp_path / "empty"))
