import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, write_images

TINY_WIDTHS = "--widths=8,16,16,8"


def _ablation(tmp_path, *extra):
    data, test = str(tmp_path / "train"), str(tmp_path / "test")
    if not os.path.exists(data):
        write_images(data, count=4, size=(40, 32))
        write_images(test, count=2, size=(24, 20), seed=1)
    command = [
        sys.executable,
        "-m",
        "experiments.ablation",
        f"--work={tmp_path / 'runs'}",
        f"--out={tmp_path / 'docs'}",
        f"--data_dir={data}",
        f"--test_dir={test}",
        TINY_WIDTHS,
        "--steps=3",
        "--batch_size=2",
        "--patch_size=16",
        "--dtype_policy=float32",
        *extra,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ablation_trains_evaluates_and_reports_the_table_i_designs(tmp_path):
    listed = _ablation(tmp_path, "--list")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 12 and listed.stdout.count("to train") == 12
    done = _ablation(tmp_path, "--only=s2_e8_skip,s2_e8_noskip")
    assert done.returncode == 0, done.stderr[-2000:]
    report = open(tmp_path / "docs" / "ABLATION.md").read()
    rows = [line for line in report.splitlines() if line.startswith("| `s")]
    assert len(rows) == 12  # every design has a row; the untrained ones say so with '-'
    measured = [row for row in rows if not row.rstrip(" |").endswith("| - | - | -")]
    assert [row.split("`")[1] for row in measured] == ["s2_e8_skip", "s2_e8_noskip"]
    assert "the global skip is better**: holds in" in report and "of 1 pairs" in report
    assert "more scales is better: no pair measured yet" in report
    assert "**Budget**: 3 steps (`--steps 3` run in whole checkpoint intervals of 1 steps)" in report
    assert os.path.getsize(tmp_path / "docs" / "ablation" / "psnr_vs_parameters.png") > 1000
    results = json.load(open(tmp_path / "docs" / "ablation" / "results.json"))
    assert results["budget"]["steps"] == 3 and len(results["designs"]) == 12
    cell = results["results"]["Kodak24"]["35"]["s2_e8_skip"]
    assert len(cell["images"]) == 2 and 0 < cell["mean_psnr"] < 100
    # A second run trains nothing again and keeps the measured cells.
    again = _ablation(tmp_path, "--only=s2_e8_skip")
    assert again.returncode == 0 and "[ablation] training" not in again.stdout
    assert json.load(open(tmp_path / "docs" / "ablation" / "results.json"))["results"] == results["results"]
    bad = _ablation(tmp_path, "--only=s9_e8_skip")
    assert bad.returncode != 0 and "--only takes design names" in bad.stderr
