"""experiments/probes/curve_slopes.py: slopes of the shipped models' curves and their targets, as JSON and markdown."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

from experiments.probes import targets


@pytest.mark.slow
def test_the_tool_writes_the_slopes_and_the_unmet_targets(tmp_path):
    record = tmp_path / "denoiser_sigma25.history.json"
    record.write_text(
        json.dumps(
            {
                "config": {"sigma": 25.0, "batch_size": 32, "patch_size": 48},
                "start_steps": 1000,
                "history": [{"step": 0, "eval_psnr": 31.0}, {"step": 3000, "eval_psnr": 31.2}],
            }
        )
    )
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps(
            {"results": {"CBSD68": {"25": {targets.PROPOSED: {"mean_psnr": 31.0}, targets.CBM3D: {"mean_psnr": 30.6}}}}}
        )
    )
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "experiments.probes.curve_slopes",
        f"--record=sigma 25={record}",
        f"--results={results}",
        "--windows=1",
        "--decide_on=1",
        f"--out={out}",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    saved = json.loads((out / "results.json").read_text())
    model = saved["models"]["sigma 25"]
    assert model["seen"] == 4000 and model["slopes"]["1"]["db_per_doubling"] == pytest.approx(0.1)
    short = {row["target"]: row for row in model["targets"]}
    assert short["paper"]["short_by"] == pytest.approx(0.32) and short["paper"]["doublings"] == pytest.approx(3.2)
    assert short["CBM3D + 0.3"]["short_by"] == pytest.approx(-0.1)
    assert "| sigma 25 | CBSD68 | 25 | paper | 31.320 | 31.000 | 0.320 | 3.2 |" in (out / "results.md").read_text()
    bad = subprocess.run([*command[:3], f"--record={record}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "LABEL=" in bad.stderr
