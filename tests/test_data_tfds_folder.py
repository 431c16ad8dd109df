import importlib.util
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest import write_images
from PIL import Image

from keras_semdenoise import imageio
from keras_semdenoise.data import tfds_folder
from keras_semdenoise.data.images import noisy_pairs
from keras_semdenoise.data.tfds_folder import DenoisingImageFolder


def _prepare(data_dir, manual_dir):
    builder = DenoisingImageFolder(data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def _examples(builder, split):
    return {e["name"].decode(): e["image"] for e in tfds.as_numpy(builder.as_dataset(split=split))}


def test_flat_folder_is_one_train_split_decoded_the_package_way(tmp_path, caplog):
    folder = tmp_path / "images"
    png_paths = write_images(str(folder), count=2, size=(20, 16))
    jpeg_path = folder / "photo.jpg"
    Image.open(png_paths[0]).rotate(180).save(jpeg_path)
    gray16 = np.arange(16 * 20, dtype=np.uint16).reshape(16, 20) * 200  # 0 .. 63800
    Image.fromarray(gray16).save(folder / "gray16.png")
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored: not an image extension")

    with caplog.at_level(logging.WARNING, logger=tfds_folder.__name__):
        builder = _prepare(tmp_path / "tfds", folder)
    assert "broken.png" in caplog.text

    assert list(builder.info.splits.keys()) == ["train"]
    assert builder.info.splits["train"].num_examples == 4
    examples = _examples(builder, "train")
    assert sorted(examples) == ["gray16", "img00", "img01", "photo"]
    for image in examples.values():
        assert image.shape == (16, 20, 3) and image.dtype == np.uint8
    # 8-bit PNG: exactly the file's pixels.
    np.testing.assert_array_equal(examples["img01"], np.asarray(Image.open(png_paths[1])))
    # 16-bit grayscale: scaled by 255/65535, rounded, repeated to RGB.
    expected16 = np.rint(gray16 / 65535.0 * 255.0).astype(np.uint8)
    np.testing.assert_array_equal(examples["gray16"], np.repeat(expected16[..., None], 3, axis=-1))
    # JPEG: what imageio.load_image decodes, rounded to uint8.
    np.testing.assert_array_equal(examples["photo"], np.rint(imageio.load_image(str(jpeg_path)).pixels * 255))


def test_same_stem_in_two_formats_and_tfds_load_by_name(tmp_path):
    folder = tmp_path / "images"
    write_images(str(folder), count=1, size=(20, 16))
    write_images(str(folder), count=1, size=(20, 16), seed=1, fmt="jpg")  # img00.png and img00.jpg
    _prepare(tmp_path / "tfds", folder)

    dataset = tfds.load("denoising_image_folder", split="train", data_dir=str(tmp_path / "tfds"), download=False)
    names = sorted(e["name"].decode() for e in tfds.as_numpy(dataset))
    assert names == ["img00", "img00"]  # keyed by file name, so both files are kept


def test_train_and_test_subfolders_become_two_splits(tmp_path):
    write_images(str(tmp_path / "m" / "train"), count=3, size=(20, 16))
    write_images(str(tmp_path / "m" / "test"), count=1, size=(20, 16), fmt="jpg")
    builder = _prepare(tmp_path / "tfds", tmp_path / "m")
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 3, "test": 1}
    assert sorted(_examples(builder, "test")) == ["img00"]


def test_missing_or_imageless_manual_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist or is empty: put PNG/JPEG/TIFF"):
        _prepare(tmp_path / "tfds1", tmp_path / "nowhere")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "README.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images in .*text: put PNG/JPEG/TIFF"):
        _prepare(tmp_path / "tfds2", tmp_path / "text")
    (tmp_path / "text" / "test").mkdir()
    write_images(str(tmp_path / "text" / "train"), count=1, size=(20, 16))
    with pytest.raises(ValueError, match="no images in .*test: put"):
        _prepare(tmp_path / "tfds3", tmp_path / "text")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no readable images in .*broken"):
        _prepare(tmp_path / "tfds4", tmp_path / "broken")


def test_noisy_pairs_crop_and_add_the_package_noise(tmp_path):
    folder = tmp_path / "m"
    write_images(str(folder), count=2, size=(40, 32))
    write_images(str(folder / "small"), count=1, size=(12, 12))  # not in the flat split: only files count
    builder = _prepare(tmp_path / "tfds", folder)
    tf.random.set_seed(0)
    batches = noisy_pairs(builder.as_dataset(split="train"), patch_size=16, batch_size=64, sigma_255=30)
    noisy, clean = (np.asarray(t) for t in next(iter(batches)))
    assert noisy.shape == clean.shape == (64, 16, 16, 3)
    assert noisy.dtype == clean.dtype == np.float32
    assert 0 <= clean.min() and clean.max() <= 1 and clean.std() > 0.05
    assert abs((noisy - clean).std() / (30 / 255) - 1) < 0.2
    assert abs((noisy - clean).mean()) < 0.01
    with pytest.raises(ValueError, match="sigma must be in"):
        noisy_pairs(builder.as_dataset(split="train"), sigma_255=-1)
    with pytest.raises(ValueError, match="patch_size and batch_size"):
        noisy_pairs(builder.as_dataset(split="train"), patch_size=0)


def test_running_the_module_twice_does_not_fail():
    spec = importlib.util.spec_from_file_location("tfds_folder_again", tfds_folder.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a second registration of "denoising_image_folder" would raise
    assert module.DenoisingImageFolder.name == "denoising_image_folder"
    assert tfds.builder_cls("denoising_image_folder") is DenoisingImageFolder


@pytest.mark.slow
def test_prepared_folder_is_a_training_source_with_the_folders_pixels(tmp_path):
    from keras_semdenoise.data import patches
    from keras_semdenoise.training import separate

    folder = tmp_path / "images"
    write_images(str(folder), count=3, size=(40, 32))
    _prepare(tmp_path / "tfds", folder)
    from_tfds = dict(patches.read_source(patches.Source(f"tfds:{tmp_path / 'tfds'}")))
    from_folder = dict(patches.read_source(patches.Source(str(folder))))
    assert sorted(from_tfds) == sorted(from_folder)
    for name, image in from_folder.items():
        np.testing.assert_array_equal(from_tfds[name], image)
    patches.check_sources(patches.parse_sources(f"tfds:{tmp_path / 'tfds'}:2"))
    with pytest.raises(FileNotFoundError, match="training data folder not found"):
        patches.check_sources(patches.parse_sources(f"tfds:{tmp_path / 'nowhere'}"))
    with pytest.raises(FileNotFoundError, match="no prepared denoising_image_folder"):
        tfds_folder.read_split(str(folder))
    config = separate.TrainConfig(
        data_dir=f"tfds:{tmp_path / 'tfds'}",
        model_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=2,
        patch_size=16,
        checkpoint_every=2,
        eval_images=0,
        holdout=False,
        stem_filters=8,
        encoder_filters=(8, 8),
        decoder_filters=(16,),
        warmup_steps=0,
        dtype_policy="float32",
        verbose=0,
        seed=0,
    )
    separate.run_training(config)
    assert os.path.exists(tmp_path / "run" / "final.keras")
