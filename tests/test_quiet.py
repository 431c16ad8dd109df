"""Entry points start without TensorFlow's C++ start-up lines, unless asked to be verbose."""

import os
import subprocess
import sys

import pytest
from conftest import REPO, write_images

NOISE = ("oneDNN", "cuInit", "cuda drivers", "absl::InitializeLog")


def _run(args, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SEMDENOISE_VERBOSE")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_tools_and_cli_print_only_their_own_lines(tmp_path):
    write_images(str(tmp_path / "in"), count=1, size=(12, 10))
    tool = _run(["-m", "tools.pack_images", f"--data={tmp_path / 'in'}", f"--out={tmp_path / 'p.npz'}"])
    assert tool.returncode == 0 and "pixels checked" in tool.stdout
    assert not any(n in tool.stdout + tool.stderr for n in NOISE), tool.stderr
    model = tmp_path / "m.keras"
    made = _run(
        [
            "-c",
            f"from keras_semdenoise.models.denoiser import build_denoiser; "
            f"build_denoiser(stem_filters=8, encoder_filters=(8, 8), decoder_filters=(16,)).save({str(model)!r})",
        ]
    )
    assert made.returncode == 0, made.stderr
    cli = [
        "-m",
        "keras_semdenoise",
        "denoise",
        str(tmp_path / "in"),
        "--sigma",
        "25",
        "--model",
        str(model),
        "--out",
        str(tmp_path / "out"),
        "--precision",
        "fp32",
    ]
    quiet = _run(cli, TF_CPP_MIN_LOG_LEVEL="2")  # as `make` sets it
    assert quiet.returncode == 0 and os.listdir(tmp_path / "out") == ["img00_denoised.png"], quiet.stderr
    assert not any(n in quiet.stdout + quiet.stderr for n in NOISE), quiet.stderr
    loud = _run(cli + ["--verbose"])
    assert loud.returncode == 0 and any(n in loud.stderr for n in NOISE)  # shown on request
