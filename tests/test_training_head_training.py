"""Head training: the learning-rate schedules, and checkpoints chosen on a validation split."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
from conftest import classification_folder, segmentation_folder
from PIL import Image

from keras_semdenoise.config_flags import check_choices
from keras_semdenoise.data import packed, sources
from keras_semdenoise.training import head_training, losses, runs
from keras_semdenoise.training.head_training import HeadConfig, run_head_training


def _config(tmp_path, **overrides):
    data = segmentation_folder(str(tmp_path / "seg"))
    fields = dict(
        task="segmentation",
        data=data,
        model_dir=str(tmp_path / "head"),
        num_classes=3,
        ignore_index=3,
        width_divisor=16,
        fc_units=16,
        crop_size=16,
        batch_size=2,
        steps=4,
        checkpoint_every=4,
        eval_split=None,
        verbose=0,
        seed=0,
    )
    return HeadConfig(**{**fields, **overrides})


def test_poly_and_cosine_schedules(tmp_path):
    config = _config(tmp_path, learning_rate=1e-3, steps=100)
    poly = head_training.learning_rate_schedule(dataclasses.replace(config, lr_schedule="poly"))
    assert float(poly(0)) == pytest.approx(1e-3)
    assert float(poly(50)) == pytest.approx(1e-3 * 0.5**head_training.POLY_POWER, rel=1e-5)
    assert float(poly(100)) == pytest.approx(0.0, abs=1e-12)
    assert float(head_training.learning_rate_schedule(config)(100)) == pytest.approx(1e-5, rel=1e-4)  # cosine to 1%
    with pytest.raises(ValueError, match="lr_schedule"):
        check_choices(dataclasses.replace(config, lr_schedule="step"))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_the_best_checkpoint_by_validation_is_shipped(tmp_path, monkeypatch, policy):
    scores = iter([20.0, 50.0, 30.0, 40.0])  # step 2 is the best
    saved, measured = {}, []
    original_history = head_training._history_callback

    def history_with_snapshots(config, trained, head, val):
        callback = original_history(config, trained, head, val)
        record = callback._record

        def snapshot(entry):
            record(entry)
            saved[entry["step"]] = [w.copy() for w in trained.get_weights()]

        callback._record = snapshot
        measured.append((trained, head))
        return callback

    def measure(config, head, split, batches):
        trained = measured[0][0]
        # What is measured is the float32 head holding the trained weights, whatever the training precision.
        assert head is measured[0][1] and {layer.dtype_policy.name for layer in head.layers} == {"float32"}
        for a, b in zip(head.get_weights(), trained.get_weights()):
            np.testing.assert_array_equal(a, b)
        return {"miou": next(scores), "images": 4}

    monkeypatch.setattr(head_training, "_measure", measure)
    monkeypatch.setattr(head_training, "_history_callback", history_with_snapshots)
    run_head_training(
        _config(
            tmp_path,
            train_split="train[:-2]",
            val_split="train[-2:]",
            lr_schedule="poly",
            checkpoint_every=1,
            dtype_policy=policy,
        )
    )
    assert {layer.dtype_policy.name for layer in measured[0][0].layers[1:]} == {policy}  # after the input
    history = runs.load_history(str(tmp_path / "head"))
    assert [(h["step"], h["val_miou"]) for h in history] == [(1, 20.0), (2, 50.0), (3, 30.0), (4, 40.0)]
    shipped_head = keras.saving.load_model(str(tmp_path / "head" / "head.keras"))
    assert {layer.dtype_policy.name for layer in shipped_head.layers} == {"float32"}
    shipped = shipped_head.get_weights()
    for ours, best in zip(shipped, saved[2]):
        np.testing.assert_array_equal(ours, best)
    assert any(not np.array_equal(a, b) for a, b in zip(shipped, saved[4]))
    config = json.load(open(tmp_path / "head" / "config.json"))
    assert config["val_split"] == "train[-2:]" and config["resolved"]["dtype_policy"] == policy


def test_a_validation_split_must_be_held_out_and_not_a_test_split(tmp_path):
    config = _config(tmp_path)
    for val_split, message in (("test", "test split"), ("train[-2:]", "share images")):
        with pytest.raises(ValueError, match=message):
            run_head_training(dataclasses.replace(config, val_split=val_split))
    assert not (tmp_path / "head").exists()


def _counted_by_hand(label_dir, void):
    """(class pixels, pixels of the frames holding the class) of classes 0..2, from the label PNGs."""
    class_pixels, present = np.zeros(3, np.int64), np.zeros(3, np.int64)
    for name in sorted(os.listdir(label_dir)):
        label = np.asarray(Image.open(os.path.join(label_dir, name)))
        label = label[label != void]
        counts = np.bincount(label, minlength=3)
        class_pixels += counts
        present += np.where(counts > 0, label.size, 0)
    return class_pixels, present


def test_median_frequency_class_weights_come_from_the_training_labels(tmp_path):
    config = _config(tmp_path, class_weighting="median_frequency", steps=2, checkpoint_every=2)
    expected = _counted_by_hand(tmp_path / "seg" / "trainannot", 3)
    folder = config.load_split("train")
    packed.pack_split("segmentation", config.data, "train", str(tmp_path / "p" / "train.npz"), 3, 3)
    for split in (folder, sources.load_split("segmentation", f"packed:{tmp_path / 'p'}", "train")):
        counted = sources.class_pixel_counts(split)
        np.testing.assert_array_equal(counted[0], expected[0])
        np.testing.assert_array_equal(counted[1], expected[1])
    weights = losses.median_frequency_weights(*expected)
    np.testing.assert_allclose(head_training.class_weights(config, folder), weights, rtol=1e-6)
    assert head_training.class_weights(dataclasses.replace(config, class_weighting="none"), folder) is None

    run_head_training(dataclasses.replace(config, eval_split="test", eval_batches=0))
    resolved = json.loads((tmp_path / "head" / "config.json").read_text())["resolved"]
    np.testing.assert_allclose(resolved["class_weights"], weights, rtol=1e-6)
    # The clean test result names each class's IoU, and their mean over the classes present is the mIoU.
    result = json.loads((tmp_path / "head" / "eval.json").read_text())
    assert list(result["class_iou"]) == ["0", "1", "2"]
    present = [v for v in result["class_iou"].values() if v is not None]
    assert result["miou"] == pytest.approx(np.mean(present), rel=1e-9)


def test_class_weighting_is_for_segmentation_only(tmp_path):
    with pytest.raises(ValueError, match="segmentation heads only"):
        HeadConfig(
            task="classification", data=str(tmp_path), model_dir=str(tmp_path / "h"), class_weighting="median_frequency"
        )
    with pytest.raises(ValueError, match="class_weighting"):
        check_choices(dataclasses.replace(_config(tmp_path), class_weighting="inverse"))
    with pytest.raises(ValueError, match="segmentation"):
        sources.class_pixel_counts(
            sources.load_split("classification", classification_folder(str(tmp_path / "cls")), "train")
        )


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_a_head_trains_and_ships_at_its_input_scale(tmp_path, policy):
    from keras_semdenoise.models.heads.deeplab import input_scale_of

    config = _config(
        tmp_path, input_scale=1.5, steps=2, checkpoint_every=2, dtype_policy=policy, eval_split="test", eval_batches=0
    )
    run_head_training(config)
    shipped = keras.saving.load_model(str(tmp_path / "head" / "head.keras"), compile=False)
    assert input_scale_of(shipped) == 1.5
    assert shipped(np.zeros((1, 20, 24, 3), np.float32)).shape == (1, 20, 24, 3)
    assert json.loads((tmp_path / "head" / "eval.json").read_text())["images"] == 4
