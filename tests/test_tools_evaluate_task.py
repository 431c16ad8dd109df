import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, TINY
from keras_semdenoise.cascade import CascadeTrainer, input_gradient_maps
from keras_semdenoise.denoiser import build_denoiser
from keras_semdenoise.evaluation import tasks as task_evaluation
from keras_semdenoise.heads import load_head
from keras_semdenoise.heads.training import HeadConfig, run_head_training
from test_task_training import _classification_folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    data = _classification_folder(str(root / "cls"), size=32, per_class=2)
    config = HeadConfig(task="classification", data=data, model_dir=str(root / "head"), width_divisor=16,
                        hidden_units=8, crop_size=32, batch_size=3, steps=2, checkpoint_every=2,
                        eval_split=None, verbose=0, seed=0)
    run_head_training(config)
    for name in ("separate", "joint"):
        for sigma in (15, 30):
            build_denoiser(zero_init_output=False, **TINY).save(str(root / f"{name}_s{sigma}.keras"))
    return root, data


def _run(args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def test_evaluate_task_tool_fills_the_paper_table(trained):
    root, data = trained
    out = root / "eval"
    args = ["tools.evaluate_task", "--task=classification", f"--data={data}", f"--head={root}/head/head.keras",
            "--sigmas=15,30", "--crop_size=32", "--batch_size=6", f"--separate={root}/separate_s{{sigma}}.keras",
            f"--joint={root}/joint_s{{sigma}}.keras", f"--cross={root}/missing_s{{sigma}}.keras", f"--out={out}"]
    result = _run(args)
    assert result.returncode == 0, result.stderr[-3000:]
    cells = json.load(open(out / "results.json"))["cells"]
    assert set(cells) == {"clean", "noisy", "cbm3d", "separate", "joint"}  # no cross-task model: no row
    assert cells["clean"]["clean"]["images"] == 6
    assert cells["noisy"]["15"]["psnr"] > cells["noisy"]["30"]["psnr"]
    assert cells["cbm3d"]["30"]["psnr"] > cells["noisy"]["30"]["psnr"]
    table = (out / "results.md").read_text()
    assert "| joint |" in table and "| CBM3D + head |" in table and "sigma 30" in table
    again = _run(args)  # resumes: every cell is already there
    assert again.returncode == 0 and json.load(open(out / "results.json"))["cells"] == cells


def test_gradient_maps_of_every_term(trained):
    root, data = trained
    head = load_head(str(root / "head" / "head.keras"))
    trainer = CascadeTrainer(build_denoiser(zero_init_output=False, **TINY), head, "classification")
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(1, 32, 32, 3)).astype("float32")
    maps = input_gradient_maps(trainer, clean + 0.1, clean, np.array([1]))
    assert set(maps) == {"reconstruction", "perceptual", "task", "total"}
    assert all(m.shape == (1, 32, 32) and m.max() > 0 for m in maps.values())

    image = os.path.join(data, "test", "class1", "0.png")
    out = root / "grad.png"
    result = _run(["tools.gradient_maps", "--task=classification", f"--image={image}", "--label=1",
                   f"--head={root}/head/head.keras", f"--denoiser={root}/joint_s15.keras", "--crop_size=32",
                   f"--out={out}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(out).size[0] > 600


def test_evaluate_task_table_with_only_the_clean_cell():
    state = {"head": "h.keras", "data": "d", "split": "test",
             "cells": {"clean": {"clean": {"images": 7, "top1": 87.4, "top5": 99.5}}}}
    table = task_evaluation.markdown_table(state, "classification")
    assert "| setting | no noise |" in table and "| clean input (no noise) | 87.4 / 99.5 |" in table
    assert "7 images per cell" in table
