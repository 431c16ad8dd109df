"""The GPU runbook (experiments/zoo/gpu_train.sh): training the zoo under KERAS_BACKEND=jax with TensorFlow hidden,
as on the lent GPU machine, what travels there and what comes back."""

import json
import os
import re
import subprocess
import sys
import tarfile

import keras
import numpy as np
import pytest
from conftest import REPO, no_tensorflow_env, write_training_folder

from keras_semdenoise.deploy import inference


@pytest.mark.slow
def test_gpu_runbook_trains_the_smoke_queue_under_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax", reason="jax comes with the test extras (pip install -e '.[test]')")
    data = write_training_folder(tmp_path / "images")  # one held-out validation image among them
    packed = tmp_path / "images.npz"
    pack = subprocess.run(
        [sys.executable, "-m", "tools.pack_images", f"--data={data}", f"--out={packed}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pack.returncode == 0 and "pixels checked" in pack.stdout, pack.stdout + pack.stderr
    work, out = tmp_path / "work", tmp_path / "out"
    env = no_tensorflow_env(
        tmp_path,
        WORK=str(work),
        OUT=str(out),
        DATA=f"packed:{packed}",
        NO_WHEELS="1",
        PYTHON=sys.executable,
        # The data path's speed measured on the image folder (the last --data_dir wins) with the caller's --workers,
        # which replace the script's 1,2,3.
        DATA_RATE_FLAGS=f"--data_dir={data} --batch_size=2 --patch_size=16 --batches=3 --passes=1 --workers=1,3",
    )
    # `slot`: the data path's speed, then `run` (the queue), all logged to $OUT/slot.log (no nvidia-smi here).
    result = subprocess.run(
        ["bash", "experiments/zoo/gpu_train.sh", "slot", "smoke", "300"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "backend jax" in log and re.search(r"workers=3: [0-9.]+ batches/s", log), log
    assert re.search(r"workers=1: [0-9.]+ batches/s", log) and re.search(r"workers=3: [0-9.]+ batches/s", log), log
    assert "workers=2" not in log  # the caller's --workers replaced the script's 1,2,3
    assert "backend jax" in (out / "slot.log").read_text() and "workers=3:" in (out / "slot.log").read_text()
    for stage in ("a", "b"):
        train_log = (work / stage / "train.log").read_text()
        assert "backend jax, float32, numpy pipeline" in train_log, train_log
        history = json.loads((work / stage / "history.json").read_text())
        # b starts from a's weights, so its curve begins with them at step 0.
        assert [h["step"] for h in history] == ([1, 2] if stage == "a" else [0, 1, 2])
        assert all(np.isfinite(h["eval_psnr"]) for h in history)
        with tarfile.open(out / f"{stage}.tgz") as archive:
            names = archive.getnames()
        # What shipping needs, within the device's 16 MiB a file: best weights, curve, config; the stage is done,
        # so no backup to resume from, and the final weights (Adam's moments too) stay behind.
        assert {f"{stage}/{n}" for n in ("best.weights.h5", "history.json", "config.json")} <= set(names)
        assert not any("/backup" in n or "/final." in n for n in names)
        assert not any("/logs" in n for n in names)  # no TensorBoard without TensorFlow
    assert sorted(os.listdir(out)) == ["a.tgz", "b.tgz", "slot.log"]
    # Stage b started from stage a's best weights (the queue's init), and the eval used the held-out image.
    config_b = json.loads((work / "b" / "config.json").read_text())
    assert config_b["init_weights"].endswith(os.path.join("a", "best.weights.h5"))
    assert config_b["resolved"] == {"dtype_policy": "float32", "pipeline": "numpy", "backend": "jax"}

    # The JAX-trained model loads in TensorFlow Keras (this process) and gives the same output as under JAX.
    model_path = work / "b" / "final.keras"
    noisy = np.random.default_rng(0).uniform(0, 1, (1, 20, 28, 3)).astype(np.float32)
    np.save(tmp_path / "noisy.npy", noisy)
    script = (
        "import numpy as np, keras_semdenoise.deploy.inference as i; m = i.load_denoiser({!r}); "
        "np.save({!r}, np.asarray(m(np.load({!r}))))".format(
            str(model_path), str(tmp_path / "jax.npy"), str(tmp_path / "noisy.npy")
        )
    )
    jax_run = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert jax_run.returncode == 0, jax_run.stdout + jax_run.stderr
    assert keras.backend.backend() == "tensorflow"
    tf_output = np.asarray(inference.load_denoiser(str(model_path))(noisy))
    np.testing.assert_allclose(tf_output, np.load(tmp_path / "jax.npy"), atol=1e-5)
    assert np.abs(tf_output - noisy).max() > 1e-4  # trained: not the identity it starts as


def test_the_runbook_checks_what_travels_against_the_device_limit(tmp_path):
    repo = tmp_path / "repo"
    (repo / "experiments" / "zoo").mkdir(parents=True)
    script = open(os.path.join(REPO, "experiments", "zoo", "gpu_train.sh"), "rb").read()
    (repo / "experiments" / "zoo" / "gpu_train.sh").write_bytes(script)
    (repo / ".gitignore").write_text("/runs/\n")
    (repo / "runs").mkdir()
    with open(repo / "runs" / "ignored.bin", "wb") as handle:  # ignored: does not travel
        handle.truncate(80 * 1024 * 1024)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)

    def travelling():
        return subprocess.run(
            ["bash", "experiments/zoo/gpu_train.sh", "travelling"], cwd=repo, capture_output=True, text=True
        )

    small = travelling()
    assert small.returncode == 0 and "travelling: 0 MiB of 64 MiB" in small.stdout, small.stdout + small.stderr
    (repo / ".gpu").mkdir()
    with open(repo / ".gpu" / "data.npz", "wb") as handle:  # carried: counts
        handle.truncate(65 * 1024 * 1024)
    large = travelling()
    assert large.returncode == 1 and "travelling: 65 MiB" in large.stdout and "too large" in large.stderr


def test_the_runbook_returns_what_ships_and_what_resumes_within_the_file_limit(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    for stage, done in (("done", True), ("half", False)):
        (work / stage / "backup").mkdir(parents=True)
        for name in ("best.weights.h5", "history.json", "config.json", "train.log", "backup/latest.weights.h5"):
            (work / stage / name).write_text(name)
        if done:
            (work / stage / "final.weights.h5").write_text("final")
            (work / stage / "final.keras").write_text("final")
    (work / "_probe" / "done").mkdir(parents=True)  # the speed probes of --seconds stay behind
    result = subprocess.run(
        ["bash", os.path.join(REPO, "experiments", "zoo", "gpu_train.sh"), "collect"],
        cwd=REPO,
        env={**os.environ, "WORK": str(work), "OUT": str(out)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(os.listdir(out)) == ["done.tgz", "half.backup.tgz", "half.tgz"]
    with tarfile.open(out / "half.backup.tgz") as archive:
        assert archive.getnames() == ["half/backup", "half/backup/latest.weights.h5"]
    for stage in ("done", "half"):
        with tarfile.open(out / f"{stage}.tgz") as archive:
            names = set(archive.getnames())
        assert names == {
            stage,
            *(f"{stage}/{n}" for n in ("best.weights.h5", "history.json", "config.json", "train.log")),
        }
