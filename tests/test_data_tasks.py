import json
import os
import time

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from conftest import TINY
from keras_semdenoise.data import tasks
from keras_semdenoise.denoiser import build_denoiser
from keras_semdenoise.heads import load_head
from keras_semdenoise.heads.training import HeadConfig, run_head_training
from keras_semdenoise.joint_training import JointConfig, run_joint_training


def _classification_folder(root, classes=3, per_class=4, size=16):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for index in range(classes):
            folder = os.path.join(root, split, f"class{index}")
            os.makedirs(folder)
            for k in range(per_class):
                pixels = np.clip(rng.normal(60 + 60 * index, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(folder, f"{k}.png"))
    return root


def _segmentation_folder(root, count=4, size=(24, 20), void=3):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f"{split}annot"))
        for k in range(count):
            label = rng.integers(0, 3, (size[1] // 4, size[0] // 4)).repeat(4, 0).repeat(4, 1).astype(np.uint8)
            label[:2] = void
            image = (label[..., None] * 80 + rng.integers(0, 30, label.shape + (3,))).astype(np.uint8)
            Image.fromarray(image).save(os.path.join(root, split, f"f{k}.png"))
            Image.fromarray(label, "L").save(os.path.join(root, f"{split}annot", f"f{k}.png"))
    return root


def test_classification_head_then_joint_training(tmp_path):
    data = _classification_folder(str(tmp_path / "cls"))
    head_config = HeadConfig(
        task="classification", data=data, model_dir=str(tmp_path / "head"), width_divisor=16, hidden_units=8,
        batch_norm=True, crop_size=16, batch_size=4, steps=4, checkpoint_every=2, eval_batches=0, verbose=0, seed=0)
    run_head_training(head_config)
    result = json.load(open(tmp_path / "head" / "eval.json"))
    assert result["images"] == 12 and 0 <= result["top1"] <= result["top5"] == 100.0  # 3 classes: top-5 is all
    head_path = str(tmp_path / "head" / "head.keras")
    head_before = [w.copy() for w in load_head(head_path).get_weights()]

    init = str(tmp_path / "init.keras")
    build_denoiser(**TINY).save(init)
    joint = JointConfig(
        task="classification", data=data, model_dir=str(tmp_path / "joint"), head=head_path, denoiser_init=init,
        sigma=25, crop_size=16, batch_size=2, steps=2, checkpoint_every=1, verbose=0, seed=0)
    run_joint_training(joint)
    trained = keras.saving.load_model(str(tmp_path / "joint" / "denoiser.keras"), compile=False)
    assert trained.count_params() == build_denoiser(**TINY).count_params()
    history = json.load(open(tmp_path / "joint" / "history.json"))
    assert set(history) == {"total_loss", "reconstruction_loss", "perceptual_loss", "task_loss"}
    for before, after in zip(head_before, load_head(head_path).get_weights()):
        np.testing.assert_array_equal(before, after)  # BN moving statistics included: the head stays frozen
    config = json.load(open(tmp_path / "joint" / "config.json"))
    assert (config["lambda_p"], config["lambda_h"]) == (0.5, 0.25)


def test_segmentation_head_then_joint_training(tmp_path):
    data = _segmentation_folder(str(tmp_path / "seg"))
    head_config = HeadConfig(
        task="segmentation", data=data, model_dir=str(tmp_path / "head"), num_classes=3, ignore_index=3,
        width_divisor=16, fc_units=16, crop_size=16, batch_size=2, steps=2, checkpoint_every=2, eval_batches=0,
        verbose=0, seed=0)
    run_head_training(head_config)
    result = json.load(open(tmp_path / "head" / "eval.json"))
    assert result["images"] == 4 and 0 <= result["miou"] <= 100
    joint = JointConfig(
        task="segmentation", data=data, model_dir=str(tmp_path / "joint"), head=str(tmp_path / "head" / "head.keras"),
        num_classes=3, ignore_index=3, sigma=15, crop_size=16, batch_size=2, steps=2, checkpoint_every=2, verbose=0)
    run_joint_training(joint)
    assert os.path.exists(tmp_path / "joint" / "denoiser.keras")
    assert json.load(open(tmp_path / "joint" / "config.json"))["lambda_h"] == 0.5


def test_folder_splits_come_in_one_fixed_mixed_order(tmp_path):
    data = _classification_folder(str(tmp_path / "cls"), classes=3, per_class=8)
    labels = [int(y) for _, y in tasks.load_split("classification", data, "train").dataset]
    again = [int(y) for _, y in tasks.load_split("classification", data, "train").dataset]
    assert labels == again and sorted(labels) == [0] * 8 + [1] * 8 + [2] * 8
    assert labels != sorted(labels) and len(set(labels[:6])) > 1  # not class by class, as the folders list them


def test_segmentation_batches_keep_void_and_add_noise(tmp_path):
    data = _segmentation_folder(str(tmp_path / "seg"))
    split = tasks.load_split("segmentation", data, "train", ignore_index=3, num_classes=3)
    (noisy, clean), labels = next(iter(tasks.batches(split, 2, 32, training=True, sigma_255=50)))
    assert noisy.shape == clean.shape == (2, 32, 32, 3) and labels.shape == (2, 32, 32)
    assert set(np.unique(np.asarray(labels))) <= {0, 1, 2, 3}
    assert 3 in np.asarray(labels)  # the padding beyond 24x20 and the void rows


def test_missing_data_gives_a_clear_message_fast(tmp_path):
    start = time.time()
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
        tasks.load_split("classification", "tfds:imagenet2012", "train", data_dir=str(tmp_path / "tfds"),
                         manual_dir=str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        tasks.load_split("classification", str(tmp_path / "nothing"), "train")
    with pytest.raises(ValueError, match="num_classes and ignore_index"):
        tasks.load_split("segmentation", _segmentation_folder(str(tmp_path / "seg")), "train")
    with pytest.raises(FileNotFoundError, match="head model not found"):
        load_head(str(tmp_path / "none.keras"))
    assert time.time() - start < 30


def test_imagenet_through_tfds_with_mock_data(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    for name in tasks.IMAGENET_MANUAL_FILES:
        (manual / name).write_bytes(b"")
    with tfds.testing.mock_data(num_examples=3):
        split = tasks.load_split("classification", "tfds:imagenet2012", "validation",
                                 data_dir=str(tmp_path / "tfds"), manual_dir=str(manual))
        images, labels = next(iter(tasks.batches(split, 3, 32, training=False)))
    assert split.num_classes == 1000
    assert images.shape == (3, 32, 32, 3) and float(np.max(images)) <= 1.0


def test_vocdevkit_layout_with_palette_labels(tmp_path):
    root = tmp_path / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9)
    for name in ("2007_000032", "2007_000039"):
        Image.fromarray(np.full((20, 24, 3), 120, np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        label = np.zeros((20, 24), np.uint8)
        label[5:10, 5:10] = 2
        label[0] = 255  # VOC's void border
        mask = Image.fromarray(label, "P")
        mask.putpalette(palette)
        mask.save(root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000032\n2007_000039\n")
    split = tasks.load_split("segmentation", str(root), "val")
    assert (split.num_classes, split.ignore_index, split.size) == (21, 255, 2)
    images, labels = next(iter(tasks.batches(split, 2, None, training=False)))
    assert images.shape == (2, 20, 24, 3)
    assert set(np.unique(np.asarray(labels))) == {0, 2, 255}
