import numpy as np
import pytest
from conftest import SHARED_DATA

from keras_semdenoise import imageio, noise


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


def test_estimate_sigma_recovers_known_gaussian_noise_on_a_natural_image():
    clean = imageio.load_image(f"{SHARED_DATA}/Kodak24/kodim03.png").pixels[:256, :256]
    for sigma in (10.0, 25.0, 50.0):
        estimate = noise.estimate_sigma(noise.add_seeded_gaussian_noise(clean, sigma, "kodim03"))
        assert abs(estimate - sigma) < 0.08 * sigma + 1.0, (sigma, estimate)
    with pytest.raises(ValueError, match="H, W, 3"):
        noise.estimate_sigma(clean[..., 0])


def test_inverse_sigma_weights_have_mean_one_and_favour_low_noise():
    sigmas = np.random.default_rng(0).uniform(0, 75, 200_000)
    assert noise.sigma_loss_weights(sigmas, (0, 75)).mean() == pytest.approx(1.0, abs=0.01)
    low, high = noise.sigma_loss_weights(np.array([15.0, 50.0]), (0, 75))
    assert low / high == pytest.approx(55 / 20)  # 1 / (sigma + 5)
    assert noise.sigma_loss_weights(np.array([25.0]), (25, 25)) == pytest.approx([1.0])  # one level: weight 1
    with pytest.raises(ValueError, match="needs a sigma range"):
        noise.check_sigma_weighting("inverse", None)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_a_flat_or_black_image_is_estimated_at_zero_noise(value):
    estimate = noise.estimate_sigma(np.full((32, 48, 3), value, np.float32))
    assert estimate == pytest.approx(0.0, abs=1e-6) and not np.isnan(estimate)
    assert noise.estimate_sigma(np.zeros((1, 1, 3), np.float32)) == 0.0
