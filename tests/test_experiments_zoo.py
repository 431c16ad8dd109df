import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, write_training_folder

from experiments.zoo import runner as train_zoo


def test_zoo_queue_skips_done_stages_and_waits_for_its_init(tmp_path):
    stages = train_zoo.QUEUES["smoke"]
    work, models = str(tmp_path / "work"), str(tmp_path / "models")
    first, second = stages
    assert train_zoo.init_path(work, models, first) is None
    assert train_zoo.init_path(work, models, second) == os.path.join(models, "a.keras")  # no stage run yet
    os.makedirs(os.path.join(work, "a"))
    assert train_zoo.init_path(work, models, second) == os.path.join(work, "a", "best.weights.h5")
    with pytest.raises(FileNotFoundError, match="run a first"):
        train_zoo.run_queue([second], work, models)
    open(os.path.join(work, "a", "final.weights.h5"), "w").close()
    assert train_zoo.is_done(work, first) and not train_zoo.is_done(work, second)
    line = train_zoo.command(work, models, second, ["--data_dir=x"])
    assert line[1:3] == ["-m", "train.train_denoiser"] and "--data_dir=x" in line and "--sigma_range=0,75" in line
    for queue in train_zoo.QUEUES.values():  # every stage's init names an earlier stage or a shipped model
        names = [s.name for s in queue]
        for index, stage in enumerate(queue):
            assert stage.init is None or stage.init in names[:index] or stage.init.startswith("denoiser_")


def test_the_queues_are_data_each_stage_with_its_note():
    with open(train_zoo.QUEUES_FILE) as handle:
        queues = json.load(handle)["queues"]
    assert set(queues) == set(train_zoo.QUEUES) and all(queue["note"] for queue in queues.values())
    loaded = train_zoo.load_queues(data_root="/data")
    extra = next(s for s in loaded["cpu"] if s.name == "cmp_data_extra")
    assert extra.flags[-1].startswith("--data_dir=/data/CBSD432:0.71,/data/extra_train/T91:0.15")
    frozen = next(s for s in loaded["cpu"] if s.name == "sigma50_s28fbn")
    assert "--frozen_batch_norm" in frozen.flags and "frozen in inference mode" in frozen.note
    assert not any("{data_root}" in f for queue in loaded.values() for s in queue for f in s.flags)


def test_a_started_stage_says_its_step_and_best_validation(tmp_path):
    stage = train_zoo.Stage("s", ("--sigma=25", "--steps=13000"))
    work = str(tmp_path)
    assert train_zoo.progress(work, stage) == ""  # not started
    os.makedirs(os.path.join(work, "s"))
    history = [
        {"step": 500, "eval_psnr": 28.5},
        {"step": 1000, "eval_psnr": 29.25},
        {"step": 1500, "eval_psnr": 29.25},
        {"step": 2000, "eval_psnr": 29.0},
    ]
    with open(os.path.join(work, "s", "history.json"), "w") as handle:
        json.dump(history, handle)
    assert train_zoo.progress(work, stage) == "step 2,000 of 13,000, best 29.25 dB at step 1,000"
    with open(os.path.join(work, "s", "config.json"), "w") as handle:  # a run sized to its slot (--seconds)
        json.dump({"steps": 4480}, handle)
    assert train_zoo.progress(work, stage) == "step 2,000 of 4,480, best 29.25 dB at step 1,000"


def test_a_sized_stage_ends_inside_the_seconds_it_is_given():
    stage = train_zoo.Stage("s", ("--sigma=25", "--steps=100000", "--warmup_steps=200"))
    steps, every, warmup = train_zoo.sized_flags(stage, rate=18.0, seconds=480.0, reserve=150.0)
    assert steps == "--steps=5920" and every == "--checkpoint_every=1480" and warmup == "--warmup_steps=200"
    assert 5920 / 18.0 <= 480.0 - 150.0
    # A short slot: the warm-up shrinks to a tenth of the steps; a stage shorter than the slot keeps its steps.
    assert train_zoo.sized_flags(stage, rate=1.0, seconds=550.0, reserve=150.0) == (
        "--steps=400",
        "--checkpoint_every=100",
        "--warmup_steps=40",
    )
    short = train_zoo.Stage("t", ("--sigma=25", "--steps=6"))
    assert train_zoo.sized_flags(short, rate=10.0, seconds=300.0) == (
        "--steps=6",
        "--checkpoint_every=1",
        "--warmup_steps=0",
    )
    with pytest.raises(SystemExit, match="leave no time"):
        train_zoo.sized_flags(stage, rate=18.0, seconds=100.0, reserve=150.0)


def test_repeated_extra_flags_add_up_in_order():
    assert train_zoo.extra_flag_list(["--data_dir=packed:d.npz", "--steps=9,--checkpoint_every=3", ""]) == (
        "--data_dir=packed:d.npz",
        "--steps=9",
        "--checkpoint_every=3",
    )
    assert train_zoo.extra_flag_list([]) == ()


def test_stages_run_at_once_only_when_none_starts_from_another(tmp_path):
    with pytest.raises(SystemExit, match="starts from another stage"):
        train_zoo.run_queue(train_zoo.QUEUES["smoke"], str(tmp_path / "work"), str(tmp_path / "models"), parallel=True)
    assert not (tmp_path / "work").exists()  # refused before anything started


@pytest.mark.slow
def test_parallel_sized_stages_probe_their_speed_then_train(tmp_path):
    data = write_training_folder(tmp_path / "images")  # one held-out validation image among them
    work = tmp_path / "work"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.zoo",
            "--queue=smoke_parallel",
            f"--work={work}",
            "--parallel",
            "--seconds=400",
            "--reserve_seconds=60",
            f"--extra_flags=--data_dir={data}",
            "--extra_flags=--eval_images=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    for stage in ("p", "q"):
        assert re.search(rf"\[zoo\] {stage}: [0-9.]+ steps/s", log), log
        probe = json.loads((work / "_probe" / stage / "history.json").read_text())
        assert [h["step"] for h in probe] == [50, 100, 150] and "eval_psnr" not in probe[0]
        # The slot is long enough for the stage's own 4 steps: a checkpoint each (a quarter of the steps).
        assert f"{stage}: " in log and "--steps=4 --checkpoint_every=1 --warmup_steps=0" in log
        history = json.loads((work / stage / "history.json").read_text())
        assert [h["step"] for h in history] == [1, 2, 3, 4] and all(np.isfinite(h["eval_psnr"]) for h in history)
        assert train_zoo.is_done(str(work), train_zoo.Stage(stage, ()))
        # Both --extra_flags reached the stage, the second after the stage's own --eval_images=2.
        config = json.loads((work / stage / "config.json").read_text())
        assert config["data_dir"] == str(data) and config["eval_images"] == 1
