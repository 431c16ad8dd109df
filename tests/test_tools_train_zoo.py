import json
import os

import pytest

from tools import train_zoo


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


def test_a_started_stage_says_its_step_and_best_validation(tmp_path):
    stage = train_zoo.Stage("s", ("--sigma=25", "--steps=13000"))
    work = str(tmp_path)
    assert train_zoo.progress(work, stage) == ""  # not started
    os.makedirs(os.path.join(work, "s"))
    history = [{"step": 500, "eval_psnr": 28.5}, {"step": 1000, "eval_psnr": 29.25}, {"step": 1500, "eval_psnr": 29.25},
               {"step": 2000, "eval_psnr": 29.0}]
    with open(os.path.join(work, "s", "history.json"), "w") as handle:
        json.dump(history, handle)
    assert train_zoo.progress(work, stage) == "step 2,000 of 13,000, best 29.25 dB at step 1,000"
