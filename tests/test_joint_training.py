import json
import os

import keras
import numpy as np
import pytest

from conftest import TINY, classification_folder, segmentation_folder
from keras_semdenoise.denoiser import build_denoiser
from keras_semdenoise.heads import load_head
from keras_semdenoise.heads.training import HeadConfig, run_head_training
from keras_semdenoise.joint_training import JointConfig, run_joint_training


@pytest.mark.slow
def test_classification_head_then_joint_training(tmp_path):
    data = classification_folder(str(tmp_path / "cls"))
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


@pytest.mark.slow
def test_segmentation_head_then_joint_training(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))
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


@pytest.mark.slow
def test_joint_training_runs_under_jax_without_tensorflow_from_packed_data(tmp_path):
    """The GPU machine's case: KERAS_BACKEND=jax, no TensorFlow importable, packed data, the official loss scale."""
    import subprocess
    import sys

    from conftest import REPO
    from keras_semdenoise.data import packed
    from keras_semdenoise.heads import VGG16Trunk, build_vgg16_classifier

    packed.pack_split("classification", classification_folder(str(tmp_path / "cls")), "train",
                      str(tmp_path / "p" / "train.npz"))
    build_denoiser(**TINY).save(str(tmp_path / "init.keras"))
    build_vgg16_classifier(3, trunk=VGG16Trunk(input_shape=(16, 16, 3), width_divisor=16), top="gap",
                           hidden_units=8).save(str(tmp_path / "head.keras"))
    flags = [f"--data=packed:{tmp_path / 'p'}", f"--head={tmp_path / 'head.keras'}", "--task=classification",
             f"--denoiser_init={tmp_path / 'init.keras'}", f"--model_dir={tmp_path / 'joint'}", "--sigma=25",
             "--crop_size=16", "--batch_size=2", "--steps=2", "--checkpoint_every=1", "--verbose=0", "--seed=0",
             "--loss_scale=official", "--lambda_d=1e-6"]
    script = ("import runpy, sys\n"
              "sys.modules['tensorflow'] = None  # importing it now fails, as on a machine without it\n"
              f"sys.argv = ['train_joint', *{flags!r}]\n"
              "runpy.run_module('train.train_joint', run_name='__main__')\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": REPO})
    assert run.returncode == 0, run.stderr[-3000:]
    config = json.load(open(tmp_path / "joint" / "config.json"))
    assert (config["scale"], config["lambda_d"], config["lambda_p"], config["lambda_h"]) == ("official", 1e-6, 0.0, 1.0)
    history = json.load(open(tmp_path / "joint" / "history.json"))
    assert len(history["total_loss"]) == 2 and all(np.isfinite(history["total_loss"]))
    assert keras.saving.load_model(str(tmp_path / "joint" / "denoiser.keras")).count_params() == \
        build_denoiser(**TINY).count_params()
