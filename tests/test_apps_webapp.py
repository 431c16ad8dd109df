"""``semdenoise serve``: the API on tiny models in-process, then the page in headless chromium on the shipped ones."""

import base64
import io
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, TINY
from PIL import Image

from keras_semdenoise import noise
from keras_semdenoise.apps import cli, webapp
from keras_semdenoise.models import shipped


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """``$SEMDENOISE_MODELS_DIR`` with a tiny untrained sigma-25 model and the same as the blind model."""
    from keras_semdenoise.models.denoiser import build_denoiser

    folder = tmp_path_factory.mktemp("models")
    model = build_denoiser(**TINY)
    for name in ("denoiser_sigma25.keras", shipped.BLIND_MODEL):
        model.save(str(folder / name))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(shipped.MODELS_ENV, str(folder))
        yield folder


@pytest.fixture(scope="module")
def client(tiny_models):
    """The app with small limits: 10,000 pixels and 50 kB per upload."""
    from starlette.testclient import TestClient

    with TestClient(webapp.create_app(precision="fp32", max_megapixels=0.01, max_upload_mb=0.05)) as test_client:
        yield test_client


def png_bytes(array, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def noisy_image(height=40, width=48, sigma=25.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.2, 0.8, width)[None, :, None] * np.ones((height, 1, 3))
    return np.clip(np.rint((ramp + rng.normal(0, sigma / 255, ramp.shape)) * 255), 0, 255).astype(np.uint8)


def post(client, data: bytes, name="photo.png", **fields):
    return client.post("/api/denoise", files={"image": (name, data, "application/octet-stream")}, data=fields)


def decode(base64_png: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(base64_png)))


def test_page_and_limits(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "api/denoise" in page.text
    assert client.get("/api/limits").json() == {"max_megapixels": 0.01, "max_upload_mb": 0.05, "precision": "fp32"}


def test_upload_gives_pngs_and_the_numbers(client, tiny_models):
    image = noisy_image()
    auto = post(client, png_bytes(image), name="dir/photo.png")
    assert auto.status_code == 200, auto.text
    result = auto.json()
    estimate = noise.estimate_sigma(image.astype(np.float32) / 255)
    assert result["estimated_sigma"] == pytest.approx(estimate, abs=0.01)
    path, reason = shipped.choose_model_for_sigma(estimate)  # what `denoise --sigma auto` picks
    assert (result["model"], result["model_reason"]) == (os.path.basename(path), reason)
    assert result["filename"] == "photo_denoised.png" and (result["width"], result["height"]) == (48, 40)
    assert result["sigma"] is None and result["precision"] == "fp32" and result["seconds"] > 0
    assert result["psnr_noisy_db"] is None and result["psnr_denoised_db"] is None
    after = decode(result["after_png"])
    assert after.format == "PNG" and after.size == (48, 40) and after.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(decode(result["before_png"])), image)

    manual = post(client, png_bytes(image), sigma="30").json()  # no sigma-30 model: as `--sigma 30`, the blind one
    assert manual["model"] == shipped.BLIND_MODEL and manual["sigma"] == 30.0
    assert manual["model_reason"] == shipped.shipped_model_for_sigma(30.0)[1]
    assert post(client, png_bytes(image), sigma="25").json()["model"] == "denoiser_sigma25.keras"

    clean = noisy_image(sigma=0.0)
    tried = post(client, png_bytes(clean), name="clean.png", add_noise="25").json()
    seen = noise.add_seeded_gaussian_noise(clean.astype(np.float32) / 255, 25.0, "clean.png")
    from keras_semdenoise.metrics import psnr_uint8

    assert tried["added_noise_sigma"] == 25.0
    assert tried["psnr_noisy_db"] == pytest.approx(psnr_uint8(clean, seen), abs=0.01)
    assert isinstance(tried["psnr_denoised_db"], float)
    assert tried["estimated_sigma"] == pytest.approx(noise.estimate_sigma(seen), abs=0.01)

    gray = post(client, png_bytes(image[..., 0]), name="gray.png").json()  # the output keeps the input's form
    assert decode(gray["after_png"]).mode == "L" and gray["notes"]


def test_self_ensemble_is_a_checkbox(client, monkeypatch):
    from keras_semdenoise.deploy import inference

    seen = []
    original = inference.denoise
    monkeypatch.setattr(
        inference,
        "denoise",
        lambda *args, **kwargs: (seen.append(kwargs.get("self_ensemble")), original(*args, **kwargs))[1],
    )
    image = noisy_image()
    plain = post(client, png_bytes(image)).json()
    both = post(client, png_bytes(image), self_ensemble="on").json()
    assert (plain["self_ensemble"], both["self_ensemble"]) == (False, True) and seen[:2] == [False, True]
    # The tiny untrained model is the identity: the mean of its 8 views is the input too.
    np.testing.assert_array_equal(np.asarray(decode(both["after_png"])), image)


@pytest.mark.parametrize(
    "data, fields, status, message",
    [
        (b"hello, I am text", {}, 415, "notes.txt: not an image file"),
        (b"", {}, 400, "notes.txt is empty"),
        (png_bytes(noisy_image(101, 100)), {}, 413, "100x101 is larger than 10,000 pixels"),
        (
            png_bytes(np.random.default_rng(0).integers(0, 255, (150, 150, 3), dtype=np.uint8)),
            {},
            413,
            "at most 0.05 MB",
        ),
        (png_bytes(noisy_image()), {"sigma": "loud"}, 400, "noise level: sigma must be a number"),
        (png_bytes(noisy_image()), {"add_noise": "300"}, 400, "added noise: sigma must be in [0, 255]"),
        (png_bytes(noisy_image()), {"self_ensemble": "maybe"}, 400, "self_ensemble: expected on or off"),
    ],
)
def test_bad_uploads_are_4xx_with_a_message(client, data, fields, status, message):
    response = post(client, data, name="notes.txt", **fields)
    assert response.status_code == status and message in response.json()["error"], response.text[:300]
    assert post(client, png_bytes(noisy_image())).status_code == 200  # and the server keeps serving


def test_malformed_requests_are_4xx_with_a_message(client):
    no_file = client.post("/api/denoise", data={"sigma": "auto"}, files={"other": ("a.png", b"x")})
    assert no_file.status_code == 400 and "field 'image'" in no_file.json()["error"]
    not_a_form = client.post("/api/denoise", content=png_bytes(noisy_image()), headers={"content-type": "image/png"})
    assert not_a_form.status_code == 415 and "multipart/form-data" in not_a_form.json()["error"]
    chunked = client.post(
        "/api/denoise",
        content=(b"x" * 10_000 for _ in range(20)),  # no Content-Length
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert chunked.status_code == 413 and "upload is too large" in chunked.json()["error"]


def test_uploads_stay_in_memory(tiny_models, monkeypatch):
    """A 2 MB upload (Starlette spools anything above 1 MB to a temporary file by default) never touches disk."""
    from starlette import formparsers
    from starlette.testclient import TestClient

    files = []

    class Recorded(formparsers.SpooledTemporaryFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            files.append(self)

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", Recorded)
    with TestClient(webapp.create_app(precision="fp32", max_upload_mb=3)) as test_client:
        response = post(test_client, os.urandom(2_000_000), name="big.bin")
    assert response.status_code == 415 and "big.bin: not an image file" in response.json()["error"]
    assert len(files) == 1 and not files[0]._rolled


def test_serve_cannot_start_is_one_line(tiny_models, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: port {port} on 127.0.0.1 is already in use (another server?); stop it or choose another --port\n"
    )
    assert cli.main(["serve", "--max-megapixels", "0"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == "error: --max-megapixels must be a positive number, got 0\n"
    assert cli.main(["serve", "--host", "no-such-host.invalid", "--port", "0"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: --host no-such-host.invalid: ")


def test_serve_help_does_not_start_tensorflow():
    check = (
        "import sys; from keras_semdenoise.apps import cli; code = cli.main(['serve', '--help']); "
        "heavy = {'tensorflow', 'keras', 'starlette', 'uvicorn'} & set(sys.modules); "
        "assert not heavy, heavy; sys.exit(code)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=REPO)
    )
    assert shown.returncode == 0, shown.stderr
    assert "--max-megapixels" in shown.stdout and "--port" in shown.stdout


@pytest.mark.slow
def test_the_page_in_a_browser(tmp_path):
    """The real command on the shipped models, driven in headless chromium: a clean crop with sigma-25 noise
    added by the page comes back with a higher PSNR; then a file that is not an image shows the message."""
    import skimage.data
    from selenium.webdriver.common.by import By

    from tools.web_screenshot import headless_chromium, running_server, upload

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()[40:136, 180:276]).save(photo)  # 96x96 around the face
    (tmp_path / "notes.png").write_text("not a picture")
    environment = {k: v for k, v in os.environ.items() if k != shipped.MODELS_ENV}  # the shipped models
    with running_server("--precision", "fp32", env=environment) as (url, log):
        assert url.startswith("http://127.0.0.1:")
        driver = headless_chromium()
        try:
            driver.get(url)
            driver.find_element(By.ID, "add-noise").click()
            assert upload(driver, str(photo)) == "done", driver.find_element(By.ID, "message").text
            shown = {
                name: driver.find_element(By.ID, name).text
                for name in ("psnr-noisy", "psnr-denoised", "estimated-sigma", "model", "seconds")
            }
            noisy_db, denoised_db = (float(shown[name].removesuffix(" dB")) for name in ("psnr-noisy", "psnr-denoised"))
            assert 19 < noisy_db < denoised_db - 3, shown
            assert 20 < float(shown["estimated-sigma"]) < 30 and shown["model"].endswith("model"), shown
            link = driver.find_element(By.ID, "download")
            assert link.get_attribute("download") == "astronaut_denoised.png"
            assert link.get_attribute("href").startswith("blob:")
            assert driver.find_element(By.ID, "message").is_displayed() is False

            assert upload(driver, str(tmp_path / "notes.png")) == "error"
            message = driver.find_element(By.ID, "message")
            assert message.is_displayed() and "notes.png: not an image file" in message.text
        finally:
            driver.quit()
    assert any("astronaut.png: 96x96, estimated sigma" in line for line in log), log
    assert not any("Traceback" in line for line in log), log
