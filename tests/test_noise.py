import numpy as np
import pytest

from keras_semdenoise import metrics, noise


def test_seeded_noise_is_deterministic_per_name_and_sigma():
    a = noise.seeded_gaussian_noise((64, 64, 3), 25, "kodim01")
    np.testing.assert_array_equal(a, noise.seeded_gaussian_noise((64, 64, 3), 25, "kodim01"))
    assert not np.array_equal(a, noise.seeded_gaussian_noise((64, 64, 3), 25, "kodim02"))
    assert not np.allclose(a / 25, noise.seeded_gaussian_noise((64, 64, 3), 50, "kodim01") / 50)
    assert abs(a.std() - 25 / 255) < 0.02 * 25 / 255
    assert a.dtype == np.float32


def test_noisy_input_is_unclipped():
    clean = np.full((32, 32, 3), 0.99, np.float32)
    noisy = noise.add_seeded_gaussian_noise(clean, 50, "x")
    assert noisy.max() > 1.0


def test_training_noise_matches_model():
    import tensorflow as tf

    clean = tf.zeros((8, 48, 48, 3))
    noisy = noise.add_gaussian_noise_tf(clean, 30.0, seed=1).numpy()
    assert abs(noisy.std() - 30 / 255) < 0.03 * 30 / 255
    rng = np.random.default_rng(0)
    numpy_noisy = noise.add_gaussian_noise_np(np.zeros((8, 48, 48, 3), np.float32), 30.0, rng)
    assert abs(numpy_noisy.std() - 30 / 255) < 0.03 * 30 / 255


@pytest.mark.parametrize("bad", [-1, 256, float("nan"), "abc", None])
def test_bad_sigma_is_rejected(bad):
    with pytest.raises(ValueError, match="sigma"):
        noise.check_sigma(bad)


def test_psnr_known_values():
    clean = np.zeros((10, 10, 3), np.uint8)
    off_by_one = clean + 1
    assert metrics.psnr_uint8(clean, off_by_one) == pytest.approx(20 * np.log10(255), abs=1e-9)
    assert metrics.psnr_uint8(clean, clean) == float("inf")
    # Floats are clipped to [0, 1] and rounded to 8 bits before measuring.
    assert metrics.psnr_uint8(clean, np.full((10, 10, 3), -0.3, np.float32)) == float("inf")
    assert metrics.psnr_uint8(clean, np.full((10, 10, 3), 0.4 / 255, np.float32)) == float("inf")
    with pytest.raises(ValueError):
        metrics.psnr_uint8(clean, np.zeros((9, 10, 3), np.uint8))


def test_psnr_border_crop_variant():
    clean = np.zeros((10, 10, 3), np.uint8)
    test = clean.copy()
    test[0, :, :] = 255  # damage only the border row
    assert np.isfinite(metrics.psnr_uint8(clean, test))
    assert metrics.psnr_uint8(clean, test, crop_border=3) == float("inf")


def test_ssim_and_keras_psnr():
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(32, 32, 3)).astype(np.float32)
    assert metrics.ssim_uint8(clean, clean) == pytest.approx(1.0)
    mild = metrics.ssim_uint8(clean, clean + rng.normal(0, 0.05, clean.shape))
    strong = metrics.ssim_uint8(clean, clean + rng.normal(0, 0.3, clean.shape))
    assert 1.0 > mild > strong
    noisy = clean + 0.05
    expected = 10 * np.log10(1 / np.mean((np.clip(noisy, 0, 1) - clean) ** 2))
    assert float(metrics.psnr_float(clean, noisy)) == pytest.approx(expected, rel=1e-4)


def test_atomic_writers_replace_whole_files_and_keep_keras_suffixes(tmp_path):
    import json

    from keras_semdenoise import atomic

    assert atomic.temporary_path("a/m.keras") == "a/m.tmp.keras"
    assert atomic.temporary_path("a/m.weights.h5") == "a/m.tmp.weights.h5"
    assert atomic.temporary_path("a/r.json") == "a/r.json.tmp"
    path = str(tmp_path / "deep" / "r.json")
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"b": 2})
    assert json.load(open(path)) == {"b": 2} and sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["r.json"]
    atomic.copy_file(path, str(tmp_path / "copy" / "r.json"))
    assert open(tmp_path / "copy" / "r.json").read() == open(path).read()


def test_estimate_sigma_recovers_known_gaussian_noise_on_a_natural_image():
    from conftest import SHARED_DATA
    from keras_semdenoise import imageio, noise

    clean = imageio.load_image(f"{SHARED_DATA}/Kodak24/kodim03.png").pixels[:256, :256]
    for sigma in (10.0, 25.0, 50.0):
        estimate = noise.estimate_sigma(noise.add_seeded_gaussian_noise(clean, sigma, "kodim03"))
        assert abs(estimate - sigma) < 0.08 * sigma + 1.0, (sigma, estimate)
    import pytest

    with pytest.raises(ValueError, match="H, W, 3"):
        noise.estimate_sigma(clean[..., 0])
