import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import REPO, TINY, TINY_FLAGS, write_images

from keras_semdenoise import evaluation
from keras_semdenoise.models import denoiser  # noqa: F401 - denoiser registers the custom layers
from keras_semdenoise.training import curves, runs, separate, ship


def _config(tmp_path, image_folder, **overrides):
    values = dict(
        data_dir=image_folder,
        model_dir=str(tmp_path / "run"),
        sigma=25.0,
        steps=4,
        batch_size=4,
        patch_size=16,
        checkpoint_every=2,
        eval_dir=image_folder,
        eval_images=2,
        verbose=0,
        seed=0,
        num_scales=3,
        stem_filters=TINY["stem_filters"],
        encoder_filters=TINY["encoder_filters"],
        decoder_filters=TINY["decoder_filters"],
        warmup_steps=1,
    )
    values.update(overrides)
    return separate.TrainConfig(**values)


@pytest.mark.slow
def test_training_run_writes_checkpoints_history_logs_and_model(tmp_path, image_folder):
    config = _config(tmp_path, image_folder)
    separate.run_training(config)
    run = config.model_dir
    for name in (
        "final.keras",
        "final.weights.h5",
        "best.weights.h5",
        "config.json",
        "history.json",
        "backup/latest.weights.h5",
        "backup/training_metadata.json",
    ):
        assert os.path.exists(os.path.join(run, name)), name
    history = json.load(open(os.path.join(run, "history.json")))
    assert [h["step"] for h in history] == [2, 4]
    assert all(np.isfinite(h["eval_psnr"]) and h["loss"] > 0 for h in history)
    events = [f for _, _, files in os.walk(os.path.join(run, "logs")) for f in files if "tfevents" in f]
    assert len(events) >= 2  # training scalars and evaluation scalars + image triplets
    model = keras.saving.load_model(os.path.join(run, "final.keras"))
    assert int(model.optimizer.iterations) == 4
    # Shipping the best checkpoint gives a standalone model, without the optimizer's state.
    out = str(tmp_path / "denoiser_sigma25.keras")
    assert ship.export_shipped_model(run, out).endswith("best.weights.h5")
    assert keras.saving.load_model(out, compile=False).count_params() == model.count_params()
    assert getattr(keras.saving.load_model(out), "optimizer", None) is None
    # A run that never finished ships from its backup (weights + Adam state): the network alone.
    unfinished = tmp_path / "unfinished"
    os.makedirs(unfinished / "backup")
    for name in ("config.json", "backup/latest.weights.h5"):
        (unfinished / name).write_bytes(open(os.path.join(run, name), "rb").read())
    from_backup = str(tmp_path / "from_backup.keras")
    assert ship.export_shipped_model(str(unfinished), from_backup).endswith("latest.weights.h5")
    shipped_model = keras.saving.load_model(from_backup)
    assert getattr(shipped_model, "optimizer", None) is None
    for ours, final in zip(shipped_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, final)
    # ship_run records the model, counts the steps of the shipped model it started from, keeps the curve.
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "MODELS.json").write_text(json.dumps({"parent": {"file": "parent.keras", "steps_trained": 100}}))
    saved = json.load(open(os.path.join(run, "config.json")))
    saved["init_weights"] = "somewhere/parent.keras"
    json.dump(saved, open(os.path.join(run, "config.json"), "w"))
    entry = ship.ship_run(run, str(shipped), "child", hardware="test CPU")
    best_step = max(history, key=lambda h: h["eval_psnr"])["step"]
    assert entry["steps_this_run"] == best_step and entry["steps_trained"] == 100 + best_step
    assert entry["init_from"] == "parent (its 100-step version)" and entry["eval_psnr_db"] == max(
        h["eval_psnr"] for h in history
    )
    assert entry["data"] == "images" and entry["precision"] in ("float32", "mixed_bfloat16")
    assert entry["train_seconds"] == pytest.approx(
        sum(h["train_seconds"] for h in history if h["step"] <= best_step), abs=0.1
    )
    index = json.load(open(shipped / "MODELS.json"))
    assert set(index) == {"parent", "child"} and index["child"] == entry
    kept = json.load(open(shipped / "child.history.json"))
    assert kept["history"] == history and kept["config"]["init_weights"] == "somewhere/parent.keras"
    assert keras.saving.load_model(shipped / "child.keras", compile=False).count_params() == model.count_params()
    assert getattr(keras.saving.load_model(shipped / "child.keras"), "optimizer", None) is None
    # A run continued from a shipped model and shipped over it, then shipped again (say, with another
    # --hardware), records the same totals: its parent's steps are counted once.
    saved["init_weights"] = "saved_models/parent.keras"
    json.dump(saved, open(os.path.join(run, "config.json"), "w"))
    first = ship.ship_run(run, str(shipped), "parent", hardware="test CPU")
    again = ship.ship_run(run, str(shipped), "parent", hardware="another CPU")
    assert first["steps_trained"] == again["steps_trained"] == 100 + best_step
    assert again["init_from"] == "parent (its 100-step version)" and again["hardware"] == "another CPU"
    # A later run from the shipped parent, shipped over it: the parent's record is kept in archive_dir and linked
    # from the new one, so the model's whole training reads back (curves.lineage).
    later = tmp_path / "later"
    shutil.copytree(run, later)
    saved["model_dir"] = str(later)
    json.dump(saved, open(later / "config.json", "w"))
    archive = tmp_path / "archive"
    parent_record = json.load(open(shipped / "parent.history.json"))
    ship.ship_run(str(later), str(shipped), "parent", hardware="test CPU", archive_dir=str(archive))
    kept_parent = archive / f"{os.path.basename(run)}.history.json"
    assert json.load(open(kept_parent)) == parent_record
    assert json.load(open(shipped / "parent.history.json"))["previous"] == str(kept_parent)
    ship.ship_run(str(later), str(shipped), "parent", hardware="again", archive_dir=str(archive))  # the link stays
    assert curves.lineage(str(shipped / "parent.history.json")) == (f"{kept_parent}+{shipped / 'parent.history.json'}")


def test_a_run_from_other_weights_records_them_as_step_0(tmp_path, image_folder):
    first = _config(tmp_path, image_folder, steps=2, dtype_policy="float32")
    model = separate.run_training(first)
    second = _config(
        tmp_path,
        image_folder,
        steps=2,
        model_dir=str(tmp_path / "second"),
        dtype_policy="float32",
        init_weights=os.path.join(first.model_dir, "final.weights.h5"),
    )
    separate.run_training(second)
    history = json.load(open(os.path.join(second.model_dir, "history.json")))
    assert [h["step"] for h in history] == [0, 2]
    from keras_semdenoise.data import images

    clean = images.evaluation_images(image_folder, 2)
    assert history[0]["eval_psnr"] == pytest.approx(
        evaluation.mean_psnr(evaluation.denoiser_method(model), clean, 25.0), abs=1e-6
    )


def test_a_fine_tune_with_frozen_batch_norm_keeps_its_statistics_and_trains_the_rest(tmp_path, image_folder):
    first = _config(tmp_path, image_folder, steps=2, dtype_policy="float32")
    separate.run_training(first)
    start = os.path.join(first.model_dir, "final.weights.h5")
    tuned = separate.run_training(
        _config(
            tmp_path,
            image_folder,
            steps=2,
            model_dir=str(tmp_path / "tuned"),
            dtype_policy="float32",
            init_weights=start,
            frozen_batch_norm=True,
            learning_rate=1e-2,
        )
    )
    before = separate.build_model(first)
    before.load_weights(start)
    norms = denoiser.batch_norm_layers(tuned)
    assert norms and all(not layer.trainable for layer in norms)
    for layer in norms:  # moving statistics, gamma and beta as they were
        for kept, was in zip(layer.weights, before.get_layer(layer.name).weights):
            np.testing.assert_array_equal(np.asarray(kept), np.asarray(was))
    assert not np.allclose(np.asarray(tuned.get_layer("conv0").kernel), np.asarray(before.get_layer("conv0").kernel))
    with pytest.raises(ValueError, match="frozen_batch_norm needs init_weights"):
        _config(tmp_path, image_folder, frozen_batch_norm=True).validate()


@pytest.mark.slow
def test_a_blind_run_is_chosen_on_the_mean_over_several_levels(tmp_path, image_folder):
    config = _config(
        tmp_path,
        image_folder,
        sigma=None,
        sigma_range=(0.0, 55.0),
        steps=2,
        eval_sigmas=(15.0, 50.0),
        dtype_policy="float32",
    )
    model = separate.run_training(config)
    record = json.load(open(os.path.join(config.model_dir, "history.json")))[-1]
    from keras_semdenoise.data import images

    clean, method = images.evaluation_images(image_folder, 2), evaluation.denoiser_method(model)
    each = [evaluation.mean_psnr(method, clean, level) for level in (15.0, 50.0)]
    assert [record["eval_psnr_s15"], record["eval_psnr_s50"]] == pytest.approx(each, abs=1e-6)
    assert record["eval_psnr"] == pytest.approx(np.mean(each), abs=1e-6)
    entry = ship.ship_run(config.model_dir, str(tmp_path / "shipped"), "blind", hardware="test CPU")
    assert entry["eval"].endswith("mean over sigma 15, 50")


@pytest.mark.slow
def test_a_blind_run_can_weight_its_levels_in_either_pipeline(tmp_path, image_folder):
    for pipeline in ("tf_data", "numpy"):
        config = _config(
            tmp_path,
            image_folder,
            model_dir=str(tmp_path / pipeline),
            sigma=None,
            sigma_range=(0.0, 55.0),
            sigma_weighting="inverse",
            steps=2,
            pipeline=pipeline,
            data_workers=2 if pipeline == "numpy" else 1,
        )  # the numpy path: two drawing threads
        separate.run_training(config)
        history = json.load(open(os.path.join(config.model_dir, "history.json")))
        assert history[-1]["step"] == 2 and np.isfinite(history[-1]["loss"])
        saved = json.load(open(os.path.join(config.model_dir, "config.json")))
        assert saved["sigma_weighting"] == "inverse" and saved["resolved"]["pipeline"] == pipeline


def test_config_errors_are_clear(tmp_path, image_folder):
    with pytest.raises(ValueError, match="sigma"):
        _config(tmp_path, image_folder, sigma=300.0).validate()
    with pytest.raises(ValueError, match="sigma"):
        _config(tmp_path, image_folder, eval_sigmas=(15.0, -5.0)).validate()
    with pytest.raises(ValueError, match="exactly one"):
        _config(tmp_path, image_folder, sigma=None).validate()
    with pytest.raises(ValueError, match="needs a sigma range"):
        _config(tmp_path, image_folder, sigma_weighting="inverse").validate()
    with pytest.raises(FileNotFoundError, match="training data"):
        _config(tmp_path, str(tmp_path / "nowhere")).validate()
    with pytest.raises(ValueError, match="data_workers must be >= 1"):
        _config(tmp_path, image_folder, data_workers=0).validate()
    with pytest.raises(ValueError, match="ffdnet needs --sigma"):
        _config(tmp_path, image_folder, architecture="ffdnet", sigma=None, sigma_range=(0, 50)).validate()
    separate.run_training(_config(tmp_path, image_folder, steps=2))
    with pytest.raises(ValueError, match="use a new model_dir"):
        separate.run_training(_config(tmp_path, image_folder, stem_filters=12))
    with pytest.raises(ValueError, match="use a new model_dir"):
        separate.run_training(_config(tmp_path, image_folder, global_skip=False))
    with pytest.raises(ValueError, match="use a new model_dir"):
        separate.run_training(_config(tmp_path, image_folder, architecture="dncnn"))
    # A run folder written before `architecture` and `global_skip` existed resumes: they take their defaults.
    path = os.path.join(tmp_path, "run", "config.json")
    saved = json.load(open(path))
    json.dump({k: v for k, v in saved.items() if k not in ("architecture", "global_skip")}, open(path, "w"))
    separate.run_training(_config(tmp_path, image_folder, steps=4))


@pytest.mark.parametrize("architecture,cls", [("dncnn", "DnCNN"), ("ffdnet", "FFDNetStyle")])
def test_peers_train_and_ship_through_the_same_run(tmp_path, image_folder, architecture, cls):
    config = _config(tmp_path, image_folder, steps=2, architecture=architecture, dtype_policy="float32")
    model = separate.run_training(config)
    assert type(model).__name__ == cls
    out = str(tmp_path / "peer.keras")
    ship.export_shipped_model(config.model_dir, out)
    shipped = keras.saving.load_model(out)
    assert type(shipped).__name__ == cls and getattr(shipped, "optimizer", None) is None
    if architecture == "ffdnet":
        assert shipped.get_config()["noise_level_255"] == 25.0
    for ours, trained in zip(shipped.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, trained)


def test_global_skip_off_reaches_the_model(tmp_path, image_folder):
    model = separate.build_model(_config(tmp_path, image_folder, global_skip=False))
    assert model.global_skip is False and "sum" not in [layer.name for layer in model.layers]


def _train_command(run_dir, data_dir, *extra):
    return [
        sys.executable,
        "-m",
        "train.train_denoiser",
        f"--model_dir={run_dir}",
        f"--data_dir={data_dir}",
        "--sigma=25",
        "--batch_size=2",
        "--patch_size=16",
        "--eval_images=0",
        "--verbose=2",
        "--warmup_steps=0",
        *TINY_FLAGS,
        *extra,
    ]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_sigkilled_run_resumes_from_its_checkpoint(tmp_path):
    data = str(tmp_path / "data")
    write_images(data, count=3, size=(24, 24))
    run = tmp_path / "run"
    command = _train_command(run, data, "--steps=300", "--checkpoint_every=3")
    first = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metadata = run / "backup" / "training_metadata.json"
    deadline = time.time() + 120
    epoch = 0
    while time.time() < deadline and first.poll() is None:
        if metadata.exists():
            epoch = json.loads(metadata.read_text())["epoch"]
            if epoch >= 2:
                break
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    saved_epoch = json.loads(metadata.read_text())["epoch"]
    assert 2 <= saved_epoch < 100
    second = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    log = second.stdout + second.stderr
    assert f"Epoch {saved_epoch + 1}/100" in log and "Epoch 1/100" not in log
    model = keras.saving.load_model(str(run / "final.keras"))
    # The optimizer state came back too: exactly 300 steps in all, none lost, none repeated.
    assert int(model.optimizer.iterations) == 300


@pytest.mark.slow
def test_training_under_mirrored_strategy_with_two_logical_cpus(tmp_path):
    data = str(tmp_path / "data")
    write_images(data, count=3, size=(24, 24))
    run = tmp_path / "run"
    command = _train_command(run, data, "--steps=4", "--checkpoint_every=2", "--strategy=mirrored", "--logical_cpus=2")
    result = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MirroredStrategy with 2 replica(s)" in result.stdout + result.stderr
    model = keras.saving.load_model(str(run / "final.keras"))
    assert int(model.optimizer.iterations) == 4


def test_bad_flags_give_a_usage_error_without_traceback(tmp_path):
    command = _train_command(tmp_path / "run", tmp_path / "missing", "--steps=2")
    result = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "training data folder not found" in result.stderr and "Traceback" not in result.stderr


def test_fit_intervals_never_run_more_than_one_interval_past_the_steps():
    fit_intervals = runs.fit_intervals
    assert fit_intervals(120, 250) == (1, 120)  # fewer steps than an interval: one short epoch
    assert fit_intervals(3000, 250) == (12, 250)
    assert fit_intervals(600, 250) == (3, 250)  # whole intervals, rounded up
