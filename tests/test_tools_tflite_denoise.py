import numpy as np
import pytest
from conftest import run_module
from PIL import Image

from keras_semdenoise.deploy import export


@pytest.mark.slow
def test_tflite_demo_tool(tiny_random_model, tmp_path):
    path = export.export_tflite(tiny_random_model, str(tmp_path / "m.tflite"))
    Image.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(tmp_path / "in.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    result = run_module(
        [
            "tools.tflite_denoise",
            f"--model={path}",
            f"--out={tmp_path / 'out'}",
            str(tmp_path / "in.png"),
            str(tmp_path / "bad.png"),
        ]
    )
    assert result.returncode == 1 and "bad.png" in result.stdout
    assert np.asarray(Image.open(tmp_path / "out" / "in_denoised.png")).shape == (10, 12, 3)
