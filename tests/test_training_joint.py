import dataclasses
import json
import os

import keras
import numpy as np
import pytest
from conftest import TINY, classification_folder, segmentation_folder

from keras_semdenoise.deploy.inference import load_denoiser
from keras_semdenoise.models.denoiser import build_denoiser
from keras_semdenoise.models.heads import load_head
from keras_semdenoise.training import losses
from keras_semdenoise.training.head_training import HeadConfig, run_head_training
from keras_semdenoise.training.joint import JointConfig, run_joint_training


@pytest.mark.slow
def test_classification_head_then_joint_training(tmp_path):
    data = classification_folder(str(tmp_path / "cls"))
    head_config = HeadConfig(
        task="classification",
        data=data,
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
    run_head_training(head_config)
    result = json.load(open(tmp_path / "head" / "eval.json"))
    assert result["images"] == 12 and 0 <= result["top1"] <= result["top5"] == 100.0  # 3 classes: top-5 is all
    head_path = str(tmp_path / "head" / "head.keras")
    head_before = [w.copy() for w in load_head(head_path).get_weights()]

    init = str(tmp_path / "init.keras")
    build_denoiser(**TINY).save(init)
    joint = JointConfig(
        task="classification",
        data=data,
        model_dir=str(tmp_path / "joint"),
        head=head_path,
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
    trained = keras.saving.load_model(str(tmp_path / "joint" / "denoiser.keras"), compile=False)
    assert trained.count_params() == build_denoiser(**TINY).count_params()
    history = json.load(open(tmp_path / "joint" / "history.json"))  # one record per checkpoint, no validation
    assert [h["step"] for h in history] == [1, 2] and not any("val_top1" in h for h in history)
    assert set(history[0]) >= {"total_loss", "reconstruction_loss", "perceptual_loss", "task_loss", "time"}
    assert not os.path.exists(tmp_path / "joint" / "best.weights.h5")
    for before, after in zip(head_before, load_head(head_path).get_weights()):
        np.testing.assert_array_equal(before, after)  # BN moving statistics included: the head stays frozen
    config = json.load(open(tmp_path / "joint" / "config.json"))
    assert (config["lambda_p"], config["lambda_h"]) == (0.5, 0.25)


@pytest.mark.slow
def test_segmentation_head_then_joint_training(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))
    head_config = HeadConfig(
        task="segmentation",
        data=data,
        model_dir=str(tmp_path / "head"),
        num_classes=3,
        ignore_index=3,
        width_divisor=16,
        fc_units=16,
        crop_size=16,
        batch_size=2,
        steps=2,
        checkpoint_every=2,
        eval_batches=0,
        verbose=0,
        seed=0,
    )
    run_head_training(head_config)
    result = json.load(open(tmp_path / "head" / "eval.json"))
    assert result["images"] == 4 and 0 <= result["miou"] <= 100
    joint = JointConfig(
        task="segmentation",
        data=data,
        model_dir=str(tmp_path / "joint"),
        head=str(tmp_path / "head" / "head.keras"),
        num_classes=3,
        ignore_index=3,
        sigma=15,
        crop_size=16,
        batch_size=2,
        steps=2,
        checkpoint_every=2,
        verbose=0,
    )
    run_joint_training(joint)
    assert os.path.exists(tmp_path / "joint" / "denoiser.keras")
    assert json.load(open(tmp_path / "joint" / "config.json"))["lambda_h"] == 0.5


@pytest.mark.slow
def test_joint_training_runs_under_jax_without_tensorflow_from_packed_data(tmp_path):
    """The GPU machine's case: KERAS_BACKEND=jax, no TensorFlow importable, packed data, the official loss scale."""
    import subprocess
    import sys

    from conftest import REPO

    from keras_semdenoise.data import packed
    from keras_semdenoise.models.heads import VGG16Trunk, build_vgg16_classifier

    packed.pack_split(
        "classification", classification_folder(str(tmp_path / "cls")), "train", str(tmp_path / "p" / "train.npz")
    )
    build_denoiser(**TINY).save(str(tmp_path / "init.keras"))
    build_vgg16_classifier(
        3, trunk=VGG16Trunk(input_shape=(16, 16, 3), width_divisor=16), top="gap", hidden_units=8
    ).save(str(tmp_path / "head.keras"))
    flags = [
        f"--data=packed:{tmp_path / 'p'}",
        f"--head={tmp_path / 'head.keras'}",
        "--task=classification",
        f"--denoiser_init={tmp_path / 'init.keras'}",
        f"--model_dir={tmp_path / 'joint'}",
        "--sigma=25",
        "--crop_size=16",
        "--batch_size=2",
        "--steps=2",
        "--checkpoint_every=1",
        "--verbose=0",
        "--seed=0",
        "--loss_scale=official",
        "--lambda_d=1e-6",
        "--train_split=train[:-3]",
        "--val_split=train[-3:]",
        "--val_images=0",
    ]
    script = (
        "import runpy, sys\n"
        "sys.modules['tensorflow'] = None  # importing it now fails, as on a machine without it\n"
        f"sys.argv = ['train_joint', *{flags!r}]\n"
        "runpy.run_module('train.train_joint', run_name='__main__')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": REPO},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    config = json.load(open(tmp_path / "joint" / "config.json"))
    assert (config["scale"], config["lambda_d"], config["lambda_p"], config["lambda_h"]) == ("official", 1e-6, 0.0, 1.0)
    history = json.load(open(tmp_path / "joint" / "history.json"))  # validated under JAX, from a packed slice
    assert [h["step"] for h in history] == [0, 1, 2] and all(np.isfinite(h["total_loss"]) for h in history[1:])
    assert all(h["val_images"] == 3 and 0 <= h["val_top1"] <= 100 and np.isfinite(h["val_psnr"]) for h in history)
    assert "shipping the best checkpoint by validation: step" in run.stderr
    assert (
        keras.saving.load_model(str(tmp_path / "joint" / "denoiser.keras")).count_params()
        == build_denoiser(**TINY).count_params()
    )


def _tiny_cascade(tmp_path):
    """A class folder (12 train images), an untrained tiny head and a tiny initial denoiser; the config of a
    2-step joint run on ``train[:-3]`` validated on ``train[-3:]``."""
    from keras_semdenoise.models.heads import VGG16Trunk, build_vgg16_classifier

    data = classification_folder(str(tmp_path / "cls"))
    build_denoiser(**TINY).save(str(tmp_path / "init.keras"))
    build_vgg16_classifier(
        3, trunk=VGG16Trunk(input_shape=(16, 16, 3), width_divisor=16), top="gap", hidden_units=8
    ).save(str(tmp_path / "head.keras"))
    return JointConfig(
        task="classification",
        data=data,
        model_dir=str(tmp_path / "joint"),
        head=str(tmp_path / "head.keras"),
        denoiser_init=str(tmp_path / "init.keras"),
        sigma=25,
        crop_size=16,
        batch_size=2,
        steps=2,
        checkpoint_every=1,
        verbose=0,
        seed=0,
        train_split="train[:-3]",
        val_split="train[-3:]",
        val_images=0,
    )


def _weights(path):
    return keras.saving.load_model(path, compile=False).get_weights()


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_validation_measures_every_checkpoint_from_step_0_and_ships_the_best(tmp_path, policy):
    from keras_semdenoise.training import joint

    config = dataclasses.replace(_tiny_cascade(tmp_path), dtype_policy=policy)
    run_joint_training(config)
    assert json.load(open(tmp_path / "joint" / "config.json"))["resolved"]["dtype_policy"] == policy
    history = json.load(open(tmp_path / "joint" / "history.json"))
    assert [h["step"] for h in history] == [0, 1, 2]
    assert "total_loss" not in history[0] and all(np.isfinite(h["total_loss"]) for h in history[1:])
    for record in history:
        assert record["val_images"] == 3 and 0 <= record["val_top1"] <= record["val_top5"] <= 100
        assert 10 < record["val_psnr"] < 40
    # Step 0 is the initial denoiser, measured as the task evaluation measures a setting.
    split = config.load_split("train[-3:]")
    expected = joint.validate(config, load_denoiser(str(tmp_path / "init.keras")), load_head(config.head), split)
    assert {k: history[0][k] for k in expected} == pytest.approx(expected)
    # The shipped denoiser holds the weights kept as the best by validation.
    best = build_denoiser(**TINY)
    best.load_weights(str(tmp_path / "joint" / "best.weights.h5"))
    for shipped, kept in zip(_weights(str(tmp_path / "joint" / "denoiser.keras")), best.get_weights()):
        np.testing.assert_array_equal(shipped, kept)
    # Trained in bf16 or not, the shipped file computes in float32, and its validation record is what the
    # float32 networks score with its weights (validation runs in float32).
    shipped = load_denoiser(str(tmp_path / "joint" / "denoiser.keras"))
    assert {layer.dtype_policy.name for layer in shipped.layers} == {"float32"}
    record = max(history, key=lambda h: h["val_top1"])  # the first of equal scores, as shipped
    again = joint.validate(config, shipped, load_head(config.head), split)
    assert {k: record[k] for k in again} == pytest.approx(again)


@pytest.mark.slow
def test_the_best_checkpoint_by_validation_is_shipped_and_a_resumed_run_keeps_its_curve(tmp_path, monkeypatch):
    from keras_semdenoise.training import joint

    scores = iter([50.0, 40.0, 30.0])  # validation gets worse as training goes on: step 0 is the best
    monkeypatch.setattr(
        joint,
        "validate",
        lambda *args: {"val_top1": next(scores), "val_top5": 100.0, "val_psnr": 20.0, "val_images": 3},
    )
    config = _tiny_cascade(tmp_path)
    run_joint_training(config)
    first = json.load(open(tmp_path / "joint" / "history.json"))
    assert [(h["step"], h["val_top1"]) for h in first] == [(0, 50.0), (1, 40.0), (2, 30.0)]
    init = _weights(str(tmp_path / "init.keras"))
    for shipped, start in zip(_weights(str(tmp_path / "joint" / "denoiser.keras")), init):
        np.testing.assert_array_equal(shipped, start)  # the step-0 weights, not the last ones

    # Resumed with more steps: the curve so far is kept (step 0 not measured again) and step 3 now wins.
    scores = iter([60.0])
    run_joint_training(dataclasses.replace(config, steps=3))
    history = json.load(open(tmp_path / "joint" / "history.json"))
    assert history[:3] == first and [(h["step"], h["val_top1"]) for h in history[3:]] == [(3, 60.0)]
    shipped = _weights(str(tmp_path / "joint" / "denoiser.keras"))
    assert any(not np.array_equal(a, b) for a, b in zip(shipped, init))


def test_splits_and_loss_scale_file_are_checked_before_training(tmp_path):
    config = JointConfig(
        task="classification",
        data=str(tmp_path / "none"),
        model_dir=str(tmp_path / "joint"),
        head="head.keras",
        val_split="test",
    )
    with pytest.raises(ValueError, match="test split: test sets are for reporting only"):
        run_joint_training(config)
    with pytest.raises(ValueError, match="share images"):
        run_joint_training(dataclasses.replace(config, val_split="train[-3:]"))
    with pytest.raises(ValueError, match="share images"):  # a union holding the validation split
        run_joint_training(dataclasses.replace(config, train_split="train+val", val_split="val"))
    with pytest.raises(ValueError, match="test split"):
        run_joint_training(dataclasses.replace(config, val_split="val+test[:5]"))
    with pytest.raises(ValueError, match="malformed"):
        run_joint_training(dataclasses.replace(config, train_split="train[:-3]", val_split="train[-3]"))
    assert not os.path.exists(tmp_path / "joint")
    choice = tmp_path / "loss_scale.json"
    choice.write_text(json.dumps({"chosen": {"classification": "official"}}))
    chosen = dataclasses.replace(config, loss_scale_file=str(choice))
    assert chosen.loss_weights() == losses.JointLossWeights.official("classification")
    assert dataclasses.replace(chosen, lambda_h=2.0).loss_weights().lambda_h == 2.0
    with pytest.raises(ValueError, match="chooses no loss scale for segmentation"):
        dataclasses.replace(chosen, task="segmentation").loss_weights()
    with pytest.raises(FileNotFoundError, match="loss scale file not found"):
        dataclasses.replace(chosen, loss_scale_file=str(tmp_path / "none.json")).loss_weights()
    assert (
        JointConfig(task="segmentation", data="d", model_dir="m", head="h", crop_size=16).validation_crop(),
        dataclasses.replace(config, val_crop=0).validation_crop(),
        config.validation_crop(),
    ) == (None, None, 224)


def test_a_history_written_by_earlier_versions_starts_a_new_curve(tmp_path):
    from keras_semdenoise.training.runs import load_history

    assert load_history(str(tmp_path)) == []
    (tmp_path / "history.json").write_text(json.dumps({"total_loss": [1.0, 0.5]}))  # per-epoch lists, no steps
    assert load_history(str(tmp_path)) == []
    (tmp_path / "history.json").write_text(json.dumps([{"step": 0, "val_top1": 50.0}]))
    assert load_history(str(tmp_path)) == [{"step": 0, "val_top1": 50.0}]
