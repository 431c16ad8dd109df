import numpy as np
import pytest

from keras_semdenoise import metrics


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


def test_class_iou_and_its_mean():
    confusion = np.array([[3, 1, 0], [1, 2, 0], [0, 0, 0]])  # class 2 absent from truth and prediction
    iou = metrics.class_iou(confusion)
    np.testing.assert_allclose(iou[:2], [3 / 5, 2 / 4])
    assert np.isnan(iou[2])
    assert metrics.mean_iou(confusion) == pytest.approx((3 / 5 + 2 / 4) / 2)
    assert np.isnan(metrics.mean_iou(np.zeros((2, 2), np.int64)))
