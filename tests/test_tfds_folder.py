import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from conftest import write_images
from keras_semdenoise.data.tfds_folder import DenoisingImageFolder, noisy_pairs


def _prepare(tmp_path, manual_dir):
    builder = DenoisingImageFolder(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def test_flat_folder_becomes_one_train_split_with_exact_pixels(tmp_path):
    folder = tmp_path / "images"
    paths = write_images(str(folder), count=2, size=(20, 16))
    Image.fromarray((np.arange(16 * 20, dtype=np.uint16).reshape(16, 20) * 200)).save(folder / "gray16.png")
    (folder / "broken.png").write_bytes(b"garbage")
    builder = _prepare(tmp_path, folder)
    assert list(builder.info.splits.keys()) == ["train"]
    examples = {e["name"].decode(): e["image"] for e in tfds.as_numpy(builder.as_dataset(split="train"))}
    assert sorted(examples) == ["gray16", "img00", "img01"]
    np.testing.assert_array_equal(examples["img00"], np.asarray(Image.open(paths[0])))
    assert examples["gray16"].shape == (16, 20, 3) and examples["gray16"].dtype == np.uint8


def test_train_and_test_subfolders_become_two_splits(tmp_path):
    write_images(str(tmp_path / "m" / "train"), count=3, size=(20, 16))
    write_images(str(tmp_path / "m" / "test"), count=1, size=(20, 16), fmt="jpg")
    builder = _prepare(tmp_path, tmp_path / "m")
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 3, "test": 1}


def test_missing_or_imageless_manual_dir_is_a_clear_error(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "README.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images in"):
        _prepare(tmp_path, tmp_path / "text")
    # tfds itself refuses a missing or empty manual_dir, quoting our instructions.
    with pytest.raises(AssertionError, match="Put the clean images"):
        _prepare(tmp_path, tmp_path / "nowhere")


def test_noisy_pairs_crop_and_add_the_package_noise(tmp_path):
    write_images(str(tmp_path / "m"), count=2, size=(40, 32))
    builder = _prepare(tmp_path, tmp_path / "m")
    noisy, clean = next(iter(noisy_pairs(builder.as_dataset(split="train"), patch_size=16, batch_size=64, sigma_255=30)))
    noisy, clean = np.asarray(noisy), np.asarray(clean)
    assert noisy.shape == clean.shape == (64, 16, 16, 3)
    assert 0 <= clean.min() and clean.max() <= 1
    assert abs((noisy - clean).std() - 30 / 255) < 0.05 * 30 / 255
