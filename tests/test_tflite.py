import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, TINY
from keras_semdenoise import export
from keras_semdenoise.denoiser import build_denoiser


@pytest.fixture(scope="module")
def model():
    return build_denoiser(zero_init_output=False, **TINY)


def test_fp32_and_fp16_match_keras_at_any_size(model, tmp_path):
    for precision, tolerance in (("fp32", 1e-5), ("fp16", 1e-2)):
        path = export.export_tflite(model, str(tmp_path / f"m_{precision}.tflite"), precision)
        runner = export.TFLiteDenoiser(path)
        for height, width in ((13, 9), (1, 1), (32, 48)):
            x = np.random.default_rng(height).uniform(size=(height, width, 3)).astype("float32")
            assert np.abs(runner(x) - np.asarray(model(x[None]))[0]).max() <= tolerance, (precision, height)


@pytest.fixture(scope="module")
def int8_path(model, tmp_path_factory):
    rng = np.random.default_rng(0)
    calibration = [rng.uniform(size=(16, 16, 3)).astype("float32") for _ in range(8)]
    return export.export_tflite(model, str(tmp_path_factory.mktemp("int8") / "m_int8.tflite"), "int8", calibration)


def test_int8_is_fully_integer_and_close(model, int8_path, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=int8_path).get_tensor_details()
    assert any(d["dtype"] == np.int8 for d in details)
    x = np.random.default_rng(1).uniform(size=(20, 24, 3)).astype("float32")
    difference = np.abs(export.TFLiteDenoiser(int8_path)(x) - np.asarray(model(x[None]))[0])
    assert difference.mean() < 0.05
    with pytest.raises(ValueError, match="representative"):
        export.export_tflite(model, str(tmp_path / "x.tflite"), "int8")
    with pytest.raises(ValueError, match="precision"):
        export.export_tflite(model, str(tmp_path / "x.tflite"), "int4")


def test_every_conv_concat_and_add_runs_in_xnnpack_at_any_size(model, int8_path, tmp_path):
    heavy = {"CONV_2D", "TRANSPOSE_CONV", "DEPTH_TO_SPACE", "CONCATENATION", "ADD", "PAD"}
    for path in (int8_path, export.export_tflite(model, str(tmp_path / "m.tflite"))):
        runner = export.TFLiteDenoiser(path)
        for height, width in ((13, 9), (32, 48)):
            runner(np.zeros((height, width, 3), np.float32))
            outside = set(runner.undelegated_ops())
            assert outside and not outside & heavy, (path, outside)  # only the pad/crop size arithmetic is left


def test_calibration_images_are_seeded_training_patches(image_folder):
    first = export.calibration_images(image_folder, 25, count=6, size=16)
    assert len(first) == 6 and first[0].shape == (16, 16, 3) and first[0].dtype == np.float32
    np.testing.assert_array_equal(np.stack(first), np.stack(export.calibration_images(image_folder, 25, count=6, size=16)))
    assert not np.array_equal(np.stack(first), np.stack(export.calibration_images(image_folder, 25, 6, 16, seed=1)))


def test_tflite_demo_tool(model, tmp_path):
    path = export.export_tflite(model, str(tmp_path / "m.tflite"))
    Image.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(tmp_path / "in.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    result = subprocess.run([sys.executable, "-m", "tools.tflite_denoise", f"--model={path}",
                             f"--out={tmp_path / 'out'}", str(tmp_path / "in.png"), str(tmp_path / "bad.png")],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 1 and "bad.png" in result.stdout
    assert np.asarray(Image.open(tmp_path / "out" / "in_denoised.png")).shape == (10, 12, 3)
