import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import classification_folder, segmentation_folder
from PIL import Image

from keras_semdenoise.data import task_data
from keras_semdenoise.models.heads import load_head


def test_folder_splits_come_in_one_fixed_mixed_order(tmp_path):
    data = classification_folder(str(tmp_path / "cls"), classes=3, per_class=8)
    labels = [int(y) for _, y in task_data.load_split("classification", data, "train").dataset]
    again = [int(y) for _, y in task_data.load_split("classification", data, "train").dataset]
    assert labels == again and sorted(labels) == [0] * 8 + [1] * 8 + [2] * 8
    assert labels != sorted(labels) and len(set(labels[:6])) > 1  # not class by class, as the folders list them


def test_sliced_splits_are_disjoint_parts_of_the_fixed_order(tmp_path):
    data = classification_folder(str(tmp_path / "cls"), classes=3, per_class=4)
    paths, labels, classes = task_data.ordered_classification_files(data, "train")
    head_paths, head_labels, head_classes = task_data.ordered_classification_files(data, "train[:-5]")
    val_paths, val_labels, _ = task_data.ordered_classification_files(data, "train[-5:]")
    assert head_paths + val_paths == paths and head_classes == classes  # disjoint, and all of train together
    assert list(head_labels) + list(val_labels) == list(labels)
    split = task_data.load_split("classification", data, "train[-5:]")
    assert split.size == 5 and split.num_classes == 3
    assert [int(y) for _, y in split.dataset] == list(val_labels)
    assert task_data.ordered_classification_files(data, "train[:25%]")[0] == paths[:3]
    with pytest.raises(ValueError, match="selects no images"):
        task_data.load_split("classification", data, "train[12:]")
    with pytest.raises(ValueError, match="malformed"):
        task_data.load_split("classification", data, "train[x:]")
    with pytest.raises(FileNotFoundError, match="no val split"):
        task_data.load_split("classification", data, "val[:2]")
    segmentation = segmentation_folder(str(tmp_path / "seg"))
    pairs = task_data.ordered_segmentation_files(segmentation, "train")
    assert task_data.ordered_segmentation_files(segmentation, "train[1:3]") == pairs[1:3]
    assert task_data.load_split("segmentation", segmentation, "train[-1:]", 3, 3).size == 1


def test_segmentation_batches_keep_void_and_add_noise(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))
    split = task_data.load_split("segmentation", data, "train", ignore_index=3, num_classes=3)
    (noisy, clean), labels = next(iter(task_data.batches(split, 2, 32, training=True, sigma_255=50)))
    assert noisy.shape == clean.shape == (2, 32, 32, 3) and labels.shape == (2, 32, 32)
    assert set(np.unique(np.asarray(labels))) <= {0, 1, 2, 3}
    assert 3 in np.asarray(labels)  # the padding beyond 24x20 and the void rows


def test_missing_data_gives_a_clear_message_fast(tmp_path):
    start = time.time()
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
        task_data.load_split(
            "classification",
            "tfds:imagenet2012",
            "train",
            data_dir=str(tmp_path / "tfds"),
            manual_dir=str(tmp_path / "nothing"),
        )
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        task_data.load_split("classification", str(tmp_path / "nothing"), "train")
    with pytest.raises(ValueError, match="num_classes and ignore_index"):
        task_data.load_split("segmentation", segmentation_folder(str(tmp_path / "seg")), "train")
    with pytest.raises(FileNotFoundError, match="head model not found"):
        load_head(str(tmp_path / "none.keras"))
    assert time.time() - start < 30


def test_imagenet_through_tfds_with_mock_data(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    for name in task_data.IMAGENET_MANUAL_FILES:
        (manual / name).write_bytes(b"")
    with tfds.testing.mock_data(num_examples=3):
        split = task_data.load_split(
            "classification", "tfds:imagenet2012", "validation", data_dir=str(tmp_path / "tfds"), manual_dir=str(manual)
        )
        images, labels = next(iter(task_data.batches(split, 3, 32, training=False)))
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
    split = task_data.load_split("segmentation", str(root), "val")
    assert (split.num_classes, split.ignore_index, split.size) == (21, 255, 2)
    images, labels = next(iter(task_data.batches(split, 2, None, training=False)))
    assert images.shape == (2, 20, 24, 3)
    assert set(np.unique(np.asarray(labels))) == {0, 2, 255}
