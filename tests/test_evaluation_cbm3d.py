import numpy as np

from keras_semdenoise import metrics, noise
from keras_semdenoise.evaluation import cbm3d


def test_cbm3d_beats_the_noisy_input():
    clean = np.tile(np.linspace(0.2, 0.8, 32, dtype=np.float32)[None, :, None], (32, 1, 3))
    noisy = noise.add_seeded_gaussian_noise(clean, 25, "ramp")
    assert metrics.psnr_uint8(clean, cbm3d.cbm3d_denoise(noisy, 25)) > metrics.psnr_uint8(clean, noisy) + 5


def test_cbm3d_on_one_thread_gives_the_estimate_of_the_default_pool():
    clean = np.tile(np.linspace(0.2, 0.8, 24, dtype=np.float32)[None, :, None], (24, 1, 3))
    noisy = noise.add_seeded_gaussian_noise(clean, 25, "ramp")
    np.testing.assert_allclose(cbm3d.cbm3d_denoise(noisy, 25, threads=1), cbm3d.cbm3d_denoise(noisy, 25), atol=1e-5)
