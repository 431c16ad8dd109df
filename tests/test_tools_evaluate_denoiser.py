import json

import pytest
from conftest import SHARED_DATA, TINY, run_module

from keras_semdenoise.models.denoiser import build_denoiser


def test_evaluate_tool_end_to_end(tmp_path):
    build_denoiser(**TINY).save(str(tmp_path / "tiny_sigma25.keras"))
    out = tmp_path / "eval"
    result = run_module(
        [
            "tools.evaluate_denoiser",
            f"--data_root={SHARED_DATA}",
            "--sets=CBSD68",
            "--sigmas=25",
            "--limit=1",
            "--methods=noisy",
            f"--model=tiny={tmp_path}/tiny_sigma{{sigma}}.keras",
            f"--out={out}",
            "--nossim",
        ]
    )
    assert result.returncode == 0, result.stderr
    state = json.load(open(out / "results.json"))
    cell = state["results"]["CBSD68"]["25"]
    # An untrained tiny model is the identity: same PSNR as the noisy input.
    assert cell["tiny"]["mean_psnr"] == pytest.approx(cell["noisy input"]["mean_psnr"], abs=0.01)
    assert "### CBSD68 (1 images)" in (out / "results.md").read_text()
