import base64
import io
import json
import os
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from serving_double import BadRequest, SavedModelServer

from keras_semdenoise import imageio
from keras_semdenoise.deploy import export


@pytest.fixture(scope="module")
def exported(tiny_random_model, tmp_path_factory):
    model = tiny_random_model
    base = str(tmp_path_factory.mktemp("serving"))
    return model, base, export.export_savedmodel(model, base, "semdenoise")


@pytest.fixture(scope="module")
def server(exported):
    return SavedModelServer(exported[2])


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_layout_versions_and_atomicity(exported, monkeypatch):
    model, base, path = exported
    assert path == os.path.join(base, "semdenoise", "1")
    with pytest.raises(FileExistsError):
        export.export_savedmodel(model, base, "semdenoise", version=1)

    def broken(_model):
        raise KeyboardInterrupt("killed mid-export")

    monkeypatch.setattr(export, "build_archive", broken)
    with pytest.raises(KeyboardInterrupt):
        export.export_savedmodel(model, base, "semdenoise")
    assert sorted(os.listdir(os.path.join(base, "semdenoise"))) == ["1"]  # no half-written version, no temp


@pytest.mark.slow
def test_signatures_match_keras(exported, server):
    model, _, path = exported
    x = np.random.default_rng(0).uniform(size=(2, 13, 9, 3)).astype("float32")
    out = server.predict("denoise_float", {"images": x})["denoised"]
    assert np.abs(out - np.asarray(model(x))).max() <= 1e-5
    as_uint8 = server.predict("serving_default", {"images": (x * 255).round().astype(np.uint8)})["denoised"]
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == (2, 13, 9, 3)
    tiny = server.predict("denoise_float", {"images": np.zeros((1, 1, 1, 3), np.float32)})["denoised"]
    assert tiny.shape == (1, 1, 1, 3)
    png = server.predict("denoise_bytes", {"image_bytes": [_png((x[0] * 255).astype(np.uint8))]})["denoised_bytes"]
    assert np.asarray(Image.open(io.BytesIO(png[0]))).shape == (13, 9, 3)
    shown = subprocess.run(
        [os.path.join(os.path.dirname(os.sys.executable), "saved_model_cli"), "show", "--dir", path, "--all"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    for name in ("serving_default", "denoise_float", "denoise_bytes", "denoised_bytes"):
        assert name in shown.stdout


def _post(port, body, path="/v1/models/semdenoise:predict"):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rest_api_row_columnar_b64_and_bad_requests(server):
    httpd = server.start_rest()
    port = httpd.server_address[1]
    try:
        image = np.random.default_rng(1).integers(0, 256, (6, 5, 3)).astype(np.uint8)
        status, reply = _post(port, {"instances": [image.tolist(), image.tolist()]})
        assert status == 200 and np.asarray(reply["predictions"]).shape == (2, 6, 5, 3)
        status, reply = _post(
            port,
            {"signature_name": "denoise_float", "inputs": {"images": [(image / 255).tolist()]}},
            "/v1/models/semdenoise/versions/1:predict",
        )
        assert status == 200 and np.asarray(reply["outputs"]).shape == (1, 6, 5, 3)
        b64 = base64.b64encode(_png(image)).decode()
        status, reply = _post(port, {"signature_name": "denoise_bytes", "instances": [{"b64": b64}]})
        assert status == 200
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(reply["predictions"][0]["b64"]))))
        assert decoded.shape == (6, 5, 3)
        bad = [
            ({"instances": []}, "non-empty"),
            ({"instances": [[[1, 2]]]}, "shape"),
            ({"instances": [[["a", "b", "c"]]]}, "uint8"),
            ({"signature_name": "denoise_float", "inputs": {"images": np.zeros((1, 4, 4, 1)).tolist()}}, "shape"),
            (
                {"signature_name": "denoise_bytes", "instances": [{"b64": base64.b64encode(b"not an image").decode()}]},
                "image",
            ),
            ({"signature_name": "nope", "instances": [1]}, "unknown signature"),
            ({"instances": [1], "inputs": [1]}, "exactly one"),
        ]
        for body, expected in bad:
            status, reply = _post(port, body)
            assert status == 400 and expected in reply["error"], (body, reply)
        assert _post(port, {"instances": [image.tolist()]})[0] == 200  # still serving
        assert _post(port, {"instances": [1]}, "/v1/models/other:predict")[0] == 404
    finally:
        httpd.shutdown()


def test_grpc_predict_request(server):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    grpc_server, port = server.start_grpc()
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "semdenoise"
        request.model_spec.signature_name = "denoise_bytes"
        image = np.full((7, 8, 3), 100, np.uint8)
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([_png(image)]))
        response = stub.Predict(request, timeout=60)
        png = tf.make_ndarray(response.outputs["denoised_bytes"])[0]
        assert np.asarray(Image.open(io.BytesIO(png))).shape == (7, 8, 3)
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"\x89PNG truncated"]))
        with pytest.raises(grpc.RpcError) as failure:
            stub.Predict(request, timeout=60)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        request.model_spec.signature_name = "serving_default"
        del request.inputs["image_bytes"]
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(image[None]))
        assert tf.make_ndarray(stub.Predict(request, timeout=60).outputs["denoised"]).shape == (1, 7, 8, 3)
    finally:
        grpc_server.stop(None)


PNG_SAMPLE = _png(np.random.default_rng(2).integers(0, 256, (9, 7, 3)).astype(np.uint8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), st.integers(1, len(PNG_SAMPLE) - 1).map(lambda n: PNG_SAMPLE[:n])))
def test_fuzz_bytes_signature_and_cli_loader(server, tmp_path_factory, data):
    try:
        out = server.predict("denoise_bytes", {"image_bytes": [data]})["denoised_bytes"]
        assert Image.open(io.BytesIO(out[0])).mode == "RGB"
    except BadRequest as error:
        assert str(error)
    path = tmp_path_factory.mktemp("fuzz") / "input.png"
    path.write_bytes(data)
    try:
        loaded = imageio.load_image(str(path))
        assert loaded.pixels.ndim == 3 and loaded.pixels.shape[-1] == 3
    except imageio.ImageReadError as error:
        assert str(path) in str(error)


# TFLite: export.export_tflite and export.TFLiteDenoiser.
def test_fp32_and_fp16_match_keras_at_any_size(tiny_random_model, tmp_path):
    for precision, tolerance in (("fp32", 1e-5), ("fp16", 1e-2)):
        path = export.export_tflite(tiny_random_model, str(tmp_path / f"m_{precision}.tflite"), precision)
        runner = export.TFLiteDenoiser(path)
        for height, width in ((13, 9), (1, 1), (32, 48)):
            x = np.random.default_rng(height).uniform(size=(height, width, 3)).astype("float32")
            expected = np.asarray(tiny_random_model(x[None]))[0]
            assert np.abs(runner(x) - expected).max() <= tolerance, (precision, height)


@pytest.fixture(scope="module")
def int8_path(tiny_random_model, tmp_path_factory):
    rng = np.random.default_rng(0)
    calibration = [rng.uniform(size=(16, 16, 3)).astype("float32") for _ in range(8)]
    path = str(tmp_path_factory.mktemp("int8") / "m_int8.tflite")
    return export.export_tflite(tiny_random_model, path, "int8", calibration)


def test_int8_is_fully_integer_and_close(tiny_random_model, int8_path, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=int8_path).get_tensor_details()
    assert any(d["dtype"] == np.int8 for d in details)
    x = np.random.default_rng(1).uniform(size=(20, 24, 3)).astype("float32")
    difference = np.abs(export.TFLiteDenoiser(int8_path)(x) - np.asarray(tiny_random_model(x[None]))[0])
    assert difference.mean() < 0.05
    with pytest.raises(ValueError, match="representative"):
        export.export_tflite(tiny_random_model, str(tmp_path / "x.tflite"), "int8")
    with pytest.raises(ValueError, match="precision"):
        export.export_tflite(tiny_random_model, str(tmp_path / "x.tflite"), "int4")


def test_every_conv_concat_and_add_runs_in_xnnpack_at_any_size(tiny_random_model, int8_path, tmp_path):
    heavy = {"CONV_2D", "TRANSPOSE_CONV", "DEPTH_TO_SPACE", "CONCATENATION", "ADD", "PAD"}
    for path in (int8_path, export.export_tflite(tiny_random_model, str(tmp_path / "m.tflite"))):
        runner = export.TFLiteDenoiser(path)
        for height, width in ((13, 9), (32, 48)):
            runner(np.zeros((height, width, 3), np.float32))
            outside = set(runner.undelegated_ops())
            assert outside and not outside & heavy, (path, outside)  # only the pad/crop size arithmetic is left


def test_calibration_images_are_seeded_training_patches(image_folder):
    first = export.calibration_images(image_folder, 25, count=6, size=16)
    assert len(first) == 6 and first[0].shape == (16, 16, 3) and first[0].dtype == np.float32
    np.testing.assert_array_equal(
        np.stack(first), np.stack(export.calibration_images(image_folder, 25, count=6, size=16))
    )
    assert not np.array_equal(np.stack(first), np.stack(export.calibration_images(image_folder, 25, 6, 16, seed=1)))
