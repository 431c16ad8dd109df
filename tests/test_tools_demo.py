import numpy as np
import pytest
from conftest import TINY, run_module
from PIL import Image

from keras_semdenoise.models.denoiser import build_denoiser


@pytest.mark.slow
def test_demo_writes_pictures(tmp_path):
    model_path = str(tmp_path / "tiny.keras")
    build_denoiser(**TINY).save(model_path)
    out = tmp_path / "demo"
    result = run_module(["tools.demo", f"--out={out}", f"--model={model_path}"])
    assert result.returncode == 0, result.stderr
    assert "astronaut, sigma 25" in result.stdout
    for name in ("clean.png", "noisy.png", "denoised.png"):
        assert np.asarray(Image.open(out / name)).shape == (512, 512, 3)
    assert Image.open(out / "side_by_side.png").size[0] > 3 * 512
