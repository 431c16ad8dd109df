"""Packed task splits (`packed:DIR`): byte-exact packing, the same pixels and order as the folder, the
augmentation's shapes and ranges, and a head and a joint denoiser trained from them through the trainers' own
code path."""

import io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
from conftest import REPO, TINY, classification_folder, segmentation_folder

from keras_semdenoise import imageio
from keras_semdenoise.data import packed, sources, task_data
from keras_semdenoise.models.denoiser import build_denoiser
from keras_semdenoise.models.heads import load_head
from keras_semdenoise.training.head_training import HeadConfig, run_head_training
from keras_semdenoise.training.joint import JointConfig, run_joint_training


def _folder_pixels(paths):
    return [np.round(imageio.load_image(p).pixels * 255).astype(np.uint8) for p in paths]


def test_classification_pack_keeps_bytes_pixels_labels_and_the_fixed_order(tmp_path):
    data = classification_folder(str(tmp_path / "cls"), classes=3, per_class=5)
    summary = packed.pack_split("classification", data, "train", str(tmp_path / "p" / "train.npz"))
    assert summary["images"] == 15
    split = packed.load_split(f"packed:{tmp_path / 'p'}", "train", "classification")
    paths, labels, classes = task_data.classification_files(data, "train")
    order = task_data._fixed_order(len(paths))
    assert split.class_names == classes and split.num_classes == 3 and split.ignore_index is None
    np.testing.assert_array_equal(split.labels, np.asarray(labels)[order])
    for got, expected in zip(split.images, _folder_pixels([paths[i] for i in order])):
        np.testing.assert_array_equal(got, expected)
    with np.load(tmp_path / "p" / "train.npz") as arrays:  # the shared PNG header is stored once
        assert len(arrays["image_prefix"]) > 8
        files = packed._unpack_files(arrays, "image")
    assert files == [open(paths[i], "rb").read() for i in order]


def test_segmentation_pack_and_batches(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))
    packed.pack_split("segmentation", data, "train", str(tmp_path / "p" / "train.npz"), 3, 3)
    split = packed.load_split(f"packed:{tmp_path / 'p'}", "train")
    reference = task_data.load_split("segmentation", data, "train", 3, 3)
    for (image, label), got_image, got_label in zip(reference.dataset, split.images, split.labels):
        np.testing.assert_array_equal(np.round(np.asarray(image) * 255).astype(np.uint8), got_image)
        np.testing.assert_array_equal(np.asarray(label), got_label)
    images, labels = next(packed.batches(split, 2, 32, training=True, seed=0))
    assert images.shape == (2, 32, 32, 3) and labels.shape == (2, 32, 32) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and 3 in labels  # padded with void beyond 24x20
    whole = list(packed.batches(split, 3, None, training=False))
    assert [len(b[0]) for b in whole] == [3, 1] and whole[0][0].shape == (3, 20, 24, 3)
    with pytest.raises(ValueError, match="num_classes and ignore_index"):
        packed.pack_split("segmentation", data, "train", str(tmp_path / "q.npz"))


def test_scale_augmentation_rescales_frames_and_labels_alike_from_folders_and_packed_data(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))  # 24x20 frames, 4x4 label blocks, the top two rows void
    packed.pack_split("segmentation", data, "train", str(tmp_path / "p" / "train.npz"), 3, 3)
    packed_split = packed.load_split(f"packed:{tmp_path / 'p'}", "train")
    folder_split = task_data.load_split("segmentation", data, "train", 3, 3)
    originals = np.stack(packed_split.labels)

    def both(crop, scale_range):
        folder = next(iter(task_data.batches(folder_split, 4, crop, training=True, scale_range=scale_range)))
        mine = next(packed.batches(packed_split, 4, crop, training=True, seed=0, scale_range=scale_range))
        return [np.asarray(folder[1]), mine[1]], [np.asarray(folder[0]), mine[0]]

    # Twice the size, whole frames: each label pixel becomes a 2x2 block (nearest), in either reader.
    (folder_labels, packed_labels), (folder_images, packed_images) = both(None, (2.0, 2.0))
    doubled = originals.repeat(2, 1).repeat(2, 2).astype(np.uint8)
    for labels in (folder_labels, packed_labels):
        assert labels.shape == (4, 40, 48)
        assert sorted(map(bytes, labels.astype(np.uint8))) == sorted(map(bytes, doubled))  # shuffled in both
    assert folder_images.shape == packed_images.shape == (4, 40, 48, 3)
    by_label = {bytes(label.astype(np.uint8)): image for label, image in zip(folder_labels, folder_images)}
    for label, image in zip(packed_labels, packed_images):  # both bilinear: the same pixels but at the edges
        assert np.abs(by_label[bytes(label.astype(np.uint8))] - image).mean() < 0.01
    # Half the size, then padded with void to the 32x32 crop: 12x10 frames with one void row left.
    for labels in both(32, (0.5, 0.5))[0]:
        assert labels.shape == (4, 32, 32) and all((frame == 3).sum() == 32 * 32 - 9 * 12 for frame in labels)
    # Random factors within the range: frames between 12x10 and 36x30, cropped to 16x16.
    for labels in both(16, (0.5, 1.5))[0]:
        assert labels.shape == (4, 16, 16) and set(np.unique(labels)) <= {0, 1, 2, 3}
    assert next(packed.batches(packed_split, 4, None, training=False, scale_range=(2.0, 2.0)))[0].shape[1:3] == (
        20,
        24,
    )  # evaluation frames stay as they are
    with pytest.raises(ValueError, match="0 < low <= high"):
        next(packed.batches(packed_split, 4, 16, training=True, scale_range=(2.0, 1.0)))
    with pytest.raises(ValueError, match="segmentation augmentation"):
        HeadConfig(task="classification", data=data, model_dir=str(tmp_path / "h"), scale_range=(0.5, 2.0))


def test_sliced_packed_splits_hold_the_folders_sliced_images(tmp_path):
    data = classification_folder(str(tmp_path / "cls"), classes=3, per_class=4)
    packed.pack_split("classification", data, "train", str(tmp_path / "p" / "train.npz"))
    for name in ("train[-5:]", "train[:-5]", "train[:25%]"):
        split = packed.load_split(f"packed:{tmp_path / 'p'}", name, "classification")
        paths, labels, classes = task_data.ordered_classification_files(data, name)
        assert split.size == len(paths) and split.class_names == classes
        np.testing.assert_array_equal(split.labels, labels)
        for got, expected in zip(split.images, _folder_pixels(paths)):
            np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="selects no images"):
        packed.load_split(f"packed:{tmp_path / 'p'}", "train[12:]")
    segmentation = segmentation_folder(str(tmp_path / "seg"))
    packed.pack_split("segmentation", segmentation, "train", str(tmp_path / "q" / "train.npz"), 3, 3)
    whole = packed.load_split(f"packed:{tmp_path / 'q'}", "train")
    tail = sources.load_split("segmentation", f"packed:{tmp_path / 'q'}", "train[-3:]")
    assert tail.size == 3 and (tail.num_classes, tail.ignore_index) == (3, 3)
    for got, expected in zip(tail.labels, whole.labels[-3:]):
        np.testing.assert_array_equal(got, expected)


def test_splits_filtered_by_file_name_hold_the_same_images_in_folders_and_packed_data(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))  # train/f0.png, f1.png, ...
    packed.pack_split("segmentation", data, "train", str(tmp_path / "p" / "train.npz"), 3, 3)
    names = lambda pairs: [os.path.basename(image) for image, _ in pairs]
    every = names(task_data.ordered_segmentation_files(data, "train"))
    held_out = names(task_data.ordered_segmentation_files(data, "train{f0,f1}"))
    rest = names(task_data.ordered_segmentation_files(data, "train{!f0,f1}"))
    assert sorted(held_out) == ["f0.png", "f1.png"] and sorted(held_out + rest) == sorted(every)
    assert held_out == [n for n in every if n in held_out] and rest == [n for n in every if n not in held_out]
    assert names(task_data.ordered_segmentation_files(data, "train{!f0,f1}[-2:]")) == rest[-2:]  # filter, then slice
    whole = packed.load_split(f"packed:{tmp_path / 'p'}", "train")
    for name, kept in (("train{f0,f1}", held_out), ("train{!f0,f1}[-2:]", rest[-2:])):
        split = packed.load_split(f"packed:{tmp_path / 'p'}", name)
        assert split.size == len(kept)
        for got, expected in zip(split.labels, [whole.labels[every.index(n)] for n in kept]):
            np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="keeps none of its"):
        task_data.ordered_segmentation_files(data, "train{Seq05VD}")
    # A split packed before file names were kept can still be read whole, and says what to do to filter it.
    with np.load(tmp_path / "p" / "train.npz") as arrays:
        np.savez(tmp_path / "old.npz", **{k: arrays[k] for k in arrays.files if k != "names"})
    os.makedirs(tmp_path / "old")
    os.replace(tmp_path / "old.npz", tmp_path / "old" / "train.npz")
    assert packed.load_split(f"packed:{tmp_path / 'old'}", "train").size == len(every)
    with pytest.raises(ValueError, match="packed without its file names"):
        packed.load_split(f"packed:{tmp_path / 'old'}", "train{f0}")
    with pytest.raises(ValueError, match="not tfds"):
        task_data.load_split("classification", "tfds:imagenet2012", "train{n01}")


def test_classification_training_crops_are_reflect_padded_shifts_and_flips(tmp_path):
    data = classification_folder(str(tmp_path / "cls"), classes=2, per_class=4, size=16)
    packed.pack_split("classification", data, "train", str(tmp_path / "p" / "train.npz"))
    split = packed.load_split(f"packed:{tmp_path / 'p'}", "train")
    images, labels = next(packed.batches(split, 8, 16, training=True, seed=1))
    assert images.shape == (8, 16, 16, 3) and sorted(labels.tolist()) == [0] * 4 + [1] * 4
    padded = [np.pad(im, [(2, 2), (2, 2), (0, 0)], mode="reflect") for im in split.images]
    for crop in np.round(images * 255).astype(np.uint8):  # each crop is a window of one padded image
        found = any(
            np.array_equal(c, crop[:, ::f])
            for p in padded
            for f in (1, -1)
            for y in range(5)
            for x in range(5)
            for c in [p[y : y + 16, x : x + 16]]
        )
        assert found
    evaluation = np.concatenate([b[0] for b in packed.batches(split, 3, 16, training=False)])
    np.testing.assert_array_equal(np.round(evaluation * 255).astype(np.uint8), np.stack(split.images))
    with pytest.raises(ValueError, match="already be 8x8"):
        next(packed.batches(split, 2, 8, training=True))


@pytest.mark.slow
def test_train_head_reads_packed_data_and_ships_the_head_without_optimizer_state(tmp_path):
    data = classification_folder(str(tmp_path / "cls"))
    pack = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.pack_task_data",
            "--task=classification",
            f"--data={data}",
            "--splits=train,test",
            f"--out={tmp_path / 'p'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert pack.returncode == 0, pack.stderr[-2000:]
    assert "12 images" in pack.stdout
    config = HeadConfig(
        task="classification",
        data=f"packed:{tmp_path / 'p'}",
        model_dir=str(tmp_path / "head"),
        width_divisor=16,
        hidden_units=8,
        batch_norm=True,
        crop_size=16,
        batch_size=4,
        steps=4,
        checkpoint_every=2,
        eval_batches=0,
        verbose=0,
        seed=0,
    )
    run_head_training(config)
    result = json.load(open(tmp_path / "head" / "eval.json"))
    assert result["images"] == 12 and 0 <= result["top1"] <= 100
    head = load_head(str(tmp_path / "head" / "head.keras"))
    assert head.output.shape == (None, 3)  # one logits tensor, not a list of one
    with zipfile.ZipFile(tmp_path / "head" / "head.keras") as archive:
        weights = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(weights)) as handle:
        assert "optimizer" not in handle and "layers" in handle
    with pytest.raises(FileNotFoundError, match="pack_task_data"):
        packed.load_split(f"packed:{tmp_path / 'nothing'}", "train")
    with pytest.raises(ValueError, match="holds a classification split"):
        packed.load_split(f"packed:{tmp_path / 'p'}", "train", "segmentation")

    # Joint training reads the same packed data, through the same loader, with the training noise added.
    split = sources.load_split("classification", f"packed:{tmp_path / 'p'}", "train")
    (noisy, clean), labels = next(sources.batches(split, 12, 16, training=True, sigma_255=50, seed=0))
    assert noisy.shape == clean.shape == (12, 16, 16, 3) and labels.shape == (12,)
    assert abs(float(np.std(noisy - clean)) - 50 / 255) < 0.01
    init = str(tmp_path / "init.keras")
    build_denoiser(**TINY).save(init)
    joint = JointConfig(
        task="classification",
        data=f"packed:{tmp_path / 'p'}",
        model_dir=str(tmp_path / "joint"),
        head=str(tmp_path / "head" / "head.keras"),
        denoiser_init=init,
        sigma=25,
        crop_size=16,
        batch_size=2,
        steps=2,
        checkpoint_every=1,
        verbose=0,
        seed=0,
    )
    run_joint_training(joint)
    assert os.path.exists(tmp_path / "joint" / "denoiser.keras")
    history = json.load(open(tmp_path / "joint" / "history.json"))
    assert [h["step"] for h in history] == [1, 2] and set(history[-1]) >= {"total_loss", "task_loss"}


def test_a_union_of_splits_reads_its_parts_in_order_from_folders_and_packed_data(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))  # train and test, 4 frames each
    for split in ("train", "test"):
        packed.pack_split("segmentation", data, split, str(tmp_path / "p" / f"{split}.npz"), 3, 3)
    union = sources.load_split("segmentation", f"packed:{tmp_path / 'p'}", "train[:-1]+test")
    parts = [packed.load_split(f"packed:{tmp_path / 'p'}", name) for name in ("train[:-1]", "test")]
    assert union.size == 7 and (union.num_classes, union.ignore_index) == (3, 3)
    for got, expected in zip(union.labels, parts[0].labels + parts[1].labels):
        np.testing.assert_array_equal(got, expected)
    folder = sources.load_split("segmentation", data, "train[:-1]+test", 3, 3)
    assert folder.size == 7
    examples = list(folder.dataset)
    assert len(examples) == 7
    for (image, label), got_image, got_label in zip(examples, union.images, union.labels):
        np.testing.assert_array_equal(np.round(np.asarray(image) * 255).astype(np.uint8), got_image)
        np.testing.assert_array_equal(np.asarray(label), got_label)
    classification = classification_folder(str(tmp_path / "cls"), classes=3, per_class=4)
    joined = sources.load_split("classification", classification, "train[:4]+train[-2:]")
    assert joined.size == 6 and joined.num_classes == 3
    with pytest.raises(ValueError, match="differ in classes"):
        sources._joined([parts[0], packed.PackedSplit("segmentation", [], [], 5, 0, 3)], "a+b")
