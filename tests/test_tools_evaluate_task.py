import json

import pytest
from conftest import run_module


@pytest.mark.slow
def test_evaluate_task_tool_fills_the_paper_table(trained_classification_head):
    root, data = trained_classification_head
    out = root / "eval"
    args = [
        "tools.evaluate_task",
        "--task=classification",
        f"--data={data}",
        f"--head={root}/head/head.keras",
        "--sigmas=15,30",
        "--crop_size=32",
        "--batch_size=6",
        f"--separate={root}/separate_s{{sigma}}.keras",
        f"--joint={root}/joint_s{{sigma}}.keras",
        f"--cross={root}/missing_s{{sigma}}.keras",
        f"--out={out}",
    ]
    result = run_module(args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cells = json.load(open(out / "results.json"))["cells"]
    assert set(cells) == {"clean", "noisy", "cbm3d", "separate", "joint"}  # no cross-task model: no row
    assert cells["clean"]["clean"]["images"] == 6
    assert cells["noisy"]["15"]["psnr"] > cells["noisy"]["30"]["psnr"]
    assert cells["cbm3d"]["30"]["psnr"] > cells["noisy"]["30"]["psnr"]
    table = (out / "results.md").read_text()
    assert "| joint |" in table and "| CBM3D + head |" in table and "sigma 30" in table
    again = run_module(args, timeout=600)  # resumes: every cell is already there
    assert again.returncode == 0 and json.load(open(out / "results.json"))["cells"] == cells
