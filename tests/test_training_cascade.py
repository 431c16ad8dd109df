import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, TINY

from keras_semdenoise.models.denoiser import build_denoiser
from keras_semdenoise.models.heads import VGG16Trunk, build_deeplab_largefov, build_vgg16_classifier
from keras_semdenoise.training import losses
from keras_semdenoise.training.cascade import CascadeTrainer


def _classification_batch(n=4, size=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(size=(n, size, size, 3)).astype("float32")
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype("float32")
    return (noisy, clean), rng.integers(0, classes, n)


def _tiny_head(classes=3, size=16):
    return build_vgg16_classifier(
        classes, trunk=VGG16Trunk(input_shape=(size, size, 3), width_divisor=16), top="gap", hidden_units=8
    )


def test_joint_training_updates_only_the_denoiser():
    keras.utils.set_random_seed(0)
    denoiser = build_denoiser(zero_init_output=False, **TINY)
    head = _tiny_head()
    head_before = [w.copy() for w in head.get_weights()]
    denoiser_before = [w.copy() for w in denoiser.get_weights()]
    trainer = CascadeTrainer(denoiser, head, "classification")
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = tf.data.Dataset.from_tensors(_classification_batch()).repeat()
    history = trainer.fit(data, steps_per_epoch=3, epochs=1, verbose=0).history
    assert set(history) == {"total_loss", "reconstruction_loss", "perceptual_loss", "task_loss"}
    for before, after in zip(head_before, head.get_weights()):
        np.testing.assert_array_equal(before, after)  # bit-identical, BN statistics included
    assert any(np.abs(b - a).max() > 0 for b, a in zip(denoiser_before, denoiser.get_weights()))
    expected_total = (
        history["reconstruction_loss"][0] + 0.5 * history["perceptual_loss"][0] + 0.25 * history["task_loss"][0]
    )
    assert history["total_loss"][0] == pytest.approx(expected_total, rel=1e-5)


def test_task_gradient_reaches_the_denoiser_through_the_head():
    denoiser = build_denoiser(zero_init_output=False, **TINY)
    trainer = CascadeTrainer(denoiser, _tiny_head(), "classification")
    (noisy, clean), labels = _classification_batch()
    with tf.GradientTape() as tape:
        task = tf.reduce_mean(trainer.loss_terms(noisy, clean, labels, training=True)["task"])
    gradients = tape.gradient(task, denoiser.trainable_variables)
    assert all(g is not None for g in gradients)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in gradients) > 0
    assert not trainer.head.trainable_variables


def test_segmentation_cascade_ignores_void_pixels():
    keras.utils.set_random_seed(1)
    head = build_deeplab_largefov(4, trunk=VGG16Trunk(width_divisor=16), fc_units=32)
    trainer = CascadeTrainer(build_denoiser(**TINY), head, "segmentation", ignore_index=255)
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(2, 24, 20, 3)).astype("float32")
    labels = rng.integers(0, 4, (2, 24, 20))
    labels[1] = 255
    terms = trainer.loss_terms(clean, clean, labels)
    assert float(terms["task"][1]) == 0.0 and float(terms["task"][0]) > 0
    assert float(terms["reconstruction"][0]) == 0.0  # identity denoiser on a clean input
    trainer.compile(optimizer="adam")
    history = trainer.fit(
        tf.data.Dataset.from_tensors(((clean, clean), labels)).repeat(), steps_per_epoch=2, verbose=0
    ).history
    assert np.isfinite(history["total_loss"][0])


def test_segmentation_loss_is_unchanged_by_logits_at_void_pixels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (1, 5, 5))
    labels[0, :2] = 11
    logits = rng.normal(size=(1, 5, 5, 3)).astype("float32")
    changed = logits.copy()
    changed[0, :2] += 100.0
    a = losses.segmentation_loss(labels, logits, ignore_index=11)
    b = losses.segmentation_loss(labels, changed, ignore_index=11)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_class_weights_scale_each_class_pixels_loss():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, (2, 6, 5))
    labels[0, 0] = 11
    logits = rng.normal(size=(2, 6, 5, 3)).astype("float32")
    plain = np.asarray(losses.segmentation_loss(labels, logits, 11))
    np.testing.assert_allclose(
        np.asarray(losses.segmentation_loss(labels, logits, 11, [1.0, 1.0, 1.0])), plain, rtol=1e-6
    )
    # By hand: class 1's pixels count double, and the sum is still divided by the non-void pixel count.
    pixel = -np.log(
        np.take_along_axis(
            np.exp(logits) / np.exp(logits).sum(-1, keepdims=True), np.where(labels == 11, 0, labels)[..., None], -1
        )[..., 0]
    )
    valid = labels != 11
    expected = (pixel * valid * np.where(labels == 1, 2.0, 1.0)).sum((1, 2)) / valid.sum((1, 2))
    weighted = losses.SegmentationCrossEntropy(11, [1.0, 2.0, 1.0])
    np.testing.assert_allclose(
        np.asarray(losses.segmentation_loss(labels, logits, 11, [1.0, 2.0, 1.0])), expected, rtol=1e-5
    )
    assert losses.SegmentationCrossEntropy.from_config(weighted.get_config()).class_weights == [1.0, 2.0, 1.0]


def test_median_frequency_weights():
    # freq = 10/100, 40/100, 5/50 -> median 0.1: weights 1, 0.25, 1; a class with no pixel weighs 0.
    np.testing.assert_allclose(
        losses.median_frequency_weights([10, 40, 5, 0], [100, 100, 50, 0]), [1.0, 0.25, 1.0, 0.0]
    )
    np.testing.assert_allclose(losses.median_frequency_weights([30, 10], [100, 100]), [2 / 3, 2.0])
    with pytest.raises(ValueError, match="no class"):
        losses.median_frequency_weights([0, 0], [0, 0])
    with pytest.raises(ValueError, match="between 0"):
        losses.median_frequency_weights([5, 10], [10, 5])
    with pytest.raises(ValueError, match="two"):
        losses.median_frequency_weights([5, 10], [10])


def test_bad_arguments():
    with pytest.raises(ValueError, match="task"):
        CascadeTrainer(build_denoiser(**TINY), _tiny_head(), "detection")
    with pytest.raises(ValueError, match="ignore_index"):
        CascadeTrainer(build_denoiser(**TINY), _tiny_head(), "segmentation")
    with pytest.raises(ValueError, match="task"):
        losses.JointLossWeights.paper("detection")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fit", "loop"])
def test_one_step_on_two_replicas_equals_one_replica(tmp_path, mode):
    script = os.path.join(REPO, "tests", "cascade_step_script.py")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    results = []
    for replicas in (1, 2):
        out = str(tmp_path / f"w{replicas}.npz")
        run = subprocess.run(
            [sys.executable, script, str(replicas), out, mode],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=REPO,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"replicas={replicas}" in run.stdout
        results.append(np.load(out))
    one, two = results
    assert len(one.files) == len(two.files)
    max_diff = max(float(np.abs(one[k] - two[k]).max()) for k in one.files)
    assert max_diff < 1e-5, max_diff


@pytest.mark.slow
def test_one_step_under_jax_equals_the_tensorflow_step(tmp_path):
    """The same weights and batch, one SGD step of the joint loss under each backend: same denoiser update."""
    keras.utils.set_random_seed(0)
    build_denoiser(zero_init_output=False, **TINY).save(str(tmp_path / "denoiser.keras"))
    _tiny_head().save(str(tmp_path / "head.keras"))
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(4, 16, 16, 3)).astype("float32")
    np.savez(
        tmp_path / "batch.npz",
        clean=clean,
        noisy=clean + rng.normal(0, 0.1, clean.shape).astype("float32"),
        labels=np.array([0, 1, 2, 1]),
    )
    script = os.path.join(REPO, "tests", "cascade_backend_script.py")
    updated = {}
    for backend in ("tensorflow", "jax"):
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
        run = subprocess.run(
            [sys.executable, script, str(tmp_path), "paper"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=REPO,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.startswith(backend)
        updated[backend] = np.load(tmp_path / f"{backend}_paper.npz")
    before = keras.saving.load_model(str(tmp_path / "denoiser.keras")).weights
    tf_weights, jax_weights = updated["tensorflow"], updated["jax"]
    assert len(tf_weights.files) == len(jax_weights.files) == len(before)
    moved = max(float(np.abs(tf_weights[k] - np.asarray(w)).max()) for k, w in zip(tf_weights.files, before))
    assert moved > 1e-4  # the step changed the denoiser...
    differ = max(float(np.abs(tf_weights[k] - jax_weights[k]).max()) for k in tf_weights.files)
    assert differ < 1e-5 * max(moved, 1.0), (differ, moved)  # ...and both backends changed it alike


def test_official_loss_scale_follows_the_caffe_euclidean_loss():
    rng = np.random.default_rng(1)
    clean = rng.uniform(size=(2, 4, 5, 3)).astype("float32")
    denoised = clean + rng.normal(0, 0.05, clean.shape).astype("float32")
    official = np.asarray(losses.reconstruction_loss(clean, denoised, "official"))
    expected = 0.5 * np.sum(((denoised - clean) * 255.0) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(official, expected, rtol=1e-5)
    paper = np.asarray(losses.reconstruction_loss(clean, denoised))
    np.testing.assert_allclose(paper, np.mean((denoised - clean) ** 2, axis=(1, 2, 3)), rtol=1e-5)
    seg, cls = losses.JointLossWeights.official("segmentation"), losses.JointLossWeights.official("classification")
    assert (seg.lambda_d, seg.lambda_p, seg.lambda_h, seg.scale) == (5e-9, 0.0, 1.0, "official")
    assert cls.lambda_d == 0.0 and losses.JointLossWeights.for_scale("classification", "paper").lambda_d == 1.0
    with pytest.raises(ValueError, match="loss scale"):
        losses.JointLossWeights.for_scale("classification", "caffe")


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_custom_loop_under_multi_worker_mirrored_strategy_with_two_workers():
    import json

    script = os.path.join(REPO, "tests", "multiworker_script.py")
    ports = [str(_free_port()), str(_free_port())]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    workers = [
        subprocess.Popen(
            [sys.executable, script, str(i), *ports],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=240)
            assert worker.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            worker.kill()
    assert [o["workers"] for o in outputs] == [2, 2]
    assert all(np.isfinite(o["losses"]).all() and len(o["losses"]) == 3 for o in outputs)
    # Mirrored: both workers hold the same weights after the steps.
    assert outputs[0]["checksum"] == pytest.approx(outputs[1]["checksum"], rel=1e-6)
