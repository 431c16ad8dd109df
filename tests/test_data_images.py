import os

import numpy as np
import pytest
from conftest import SHARED_DATA, write_images
from PIL import Image

from keras_semdenoise import imageio
from keras_semdenoise.data import images, patches


def _batch(dataset):
    noisy, clean = next(iter(dataset))
    return np.asarray(noisy), np.asarray(clean)


def test_training_batches_have_the_right_shapes_range_and_noise(image_folder):
    noisy, clean = _batch(images.training_dataset(image_folder, patch_size=16, batch_size=64, sigma_255=25))
    assert noisy.shape == clean.shape == (64, 16, 16, 3)
    assert noisy.dtype == clean.dtype == np.float32
    assert clean.min() >= 0 and clean.max() <= 1
    assert abs((noisy - clean).std() - 25 / 255) < 0.05 * 25 / 255


def test_blind_training_draws_sigma_per_patch(image_folder):
    noisy, clean = _batch(images.training_dataset(image_folder, patch_size=16, batch_size=64, sigma_range_255=(5, 55)))
    stds = (noisy - clean).reshape(64, -1).std(axis=1) * 255
    assert stds.min() >= 3 and stds.max() <= 60
    assert stds.max() - stds.min() > 20


def test_patches_are_crops_of_the_images(tmp_path):
    folder = tmp_path / "one"
    write_images(str(folder), count=1, size=(20, 20))
    source = np.asarray(Image.open(folder / "img00.png"), np.float32) / 255
    _, clean = _batch(images.training_dataset(str(folder), patch_size=20, batch_size=8, sigma_255=0))
    variants = [np.rot90(v, k) for v in (source, source[:, ::-1]) for k in range(4)]
    for patch in clean:
        assert min(np.abs(patch - v).max() for v in variants) < 1e-6


def test_small_and_unreadable_images_are_skipped_and_empty_folders_fail(tmp_path):
    folder = tmp_path / "mixed"
    write_images(str(folder), count=1, size=(40, 40))
    write_images(str(tmp_path / "small"), count=1, size=(8, 8))
    os.replace(tmp_path / "small" / "img00.png", folder / "tiny.png")
    (folder / "broken.png").write_bytes(b"not an image")
    assert [os.path.basename(p) for p in patches.usable_training_files(str(folder), 16)] == ["img00.png"]
    with pytest.raises(ValueError, match="no usable training image"):
        patches.usable_training_files(str(folder), 64)
    with pytest.raises(FileNotFoundError):
        images.training_dataset(str(tmp_path / "missing"), sigma_255=25)
    with pytest.raises(ValueError):
        images.training_dataset(str(folder), sigma_255=25, sigma_range_255=(0, 50))


def test_shared_test_sets_are_readable():
    found = images.evaluation_images(os.path.join(SHARED_DATA, "CBSD68"), limit=2)
    assert [name for name, _ in found] == ["101085", "101087"]
    assert all(clean.shape[-1] == 3 and clean.dtype == np.float32 for _, clean in found)
    assert len(imageio.list_image_files(os.path.join(SHARED_DATA, "CBSD432"))) == 432
