"""The built wheel, installed into a fresh venv outside the checkout, denoises with the models it ships, and exports
and evaluates them with its own ``semdenoise`` command (no checkout, no ``tools/``).

``python -m build`` makes the sdist and then the wheel from the sdist (as a release would), offline:
``--no-isolation`` uses the frontend and backend pinned in the ``test`` extra. The fresh venv gets the wheel
with ``--no-deps``; its dependencies (TensorFlow and the rest) are borrowed from this venv through a
``.pth`` line, which Python appends after the venv's own site-packages, so the wheel's
``keras_semdenoise`` is the one imported (checked, as is that it is not the checkout's).
"""

import glob
import os
import subprocess
import sys
import sysconfig
import zipfile

import numpy as np
import pytest
import skimage.data
from conftest import REPO
from PIL import Image

from keras_semdenoise import metrics, noise
from keras_semdenoise.models import shipped

SIGMA_255 = 25.0
SIZE = 64


def _run(command, cwd, env, timeout=300):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command[:3]}...\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def _expected_model_files() -> set[str]:
    """Names the wheel must ship: every shipped model of the checkout and MODELS.json."""
    folder = shipped.CHECKOUT_MODELS_DIR
    names = {os.path.basename(path) for path in shipped.shipped_models(folder).values()}
    return names | {shipped.BLIND_MODEL, "MODELS.json"}


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_denoises_with_its_shipped_models(tmp_path):
    env = {
        key: value for key, value in os.environ.items() if key not in (shipped.MODELS_ENV, "PYTHONPATH", "PYTHONHOME")
    }
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"

    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), REPO], cwd=REPO, env=env)
    (wheel,) = glob.glob(str(dist / "*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    # The package and its metadata only: no tests/, tools/, train/, runs/, top-level saved_models/ ...
    assert all(name.startswith(("keras_semdenoise/", "keras_semdenoise-0")) for name in names), names
    models = [name for name in names if name.startswith("keras_semdenoise/saved_models/")]
    assert all(name.count("/") == 2 for name in models), models  # nothing of experiments/reproduce/models_reduced/
    assert _expected_model_files() <= {name.rsplit("/", 1)[1] for name in models}, models
    assert os.path.getsize(wheel) < 30e6  # the five models are about 4.3 MB each

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = str(venv / "bin" / "python")
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
        cwd=tmp_path,
        env=env,
    )
    site_packages = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path, env=env
    ).stdout.strip()
    with open(os.path.join(site_packages, "borrowed_dependencies.pth"), "w") as handle:
        handle.write(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    clean = skimage.data.astronaut()[64 : 64 + SIZE, 192 : 192 + SIZE]  # a real photo: hair, skin and an edge
    noisy = metrics.to_uint8(noise.add_seeded_gaussian_noise(clean / 255.0, SIGMA_255, "wheel"))
    Image.fromarray(noisy).save(work / "noisy.png")
    result = _run([str(venv / "bin" / "semdenoise"), "denoise", "noisy.png", "--out", "out"], cwd=work, env=env)
    assert "sigma-25 model" in result.stdout + result.stderr, result.stderr
    denoised = np.asarray(Image.open(work / "out" / "noisy_denoised.png"))
    assert denoised.shape == (SIZE, SIZE, 3) and denoised.dtype == np.uint8
    noisy_psnr, denoised_psnr = metrics.psnr_uint8(clean, noisy), metrics.psnr_uint8(clean, denoised)
    assert denoised_psnr > noisy_psnr + 6, (noisy_psnr, denoised_psnr)  # 20.4 -> 29.9 dB when written

    script = (
        "import os, keras_semdenoise, keras\n"
        "from keras_semdenoise.models import shipped\n"
        "print(keras_semdenoise.__file__)\n"
        "print(shipped.models_dir())\n"
        "model = keras.saving.load_model(os.path.join(shipped.models_dir(), 'denoiser_sigma25.keras'))\n"
        "print(model.count_params())\n"
    )
    package_file, folder, params = _run([python, "-c", script], cwd=work, env=env).stdout.split()
    installed = os.path.join(site_packages, "keras_semdenoise")
    assert package_file == os.path.join(installed, "__init__.py")
    assert folder == os.path.join(installed, "saved_models")
    assert int(params) > 1_000_000

    # Export and evaluate from the installed command alone (run outside the checkout: no tools/ to lean on).
    semdenoise = str(venv / "bin" / "semdenoise")
    _run([semdenoise, "export", "savedmodel", "--sigma", "25", "--base", "exported", "--precision", "fp32"], work, env)
    assert (work / "exported" / "semdenoise" / "1" / "saved_model.pb").exists()
    _run([semdenoise, "export", "tflite", "--sigma", "25", "--out-dir", "tflite"], cwd=work, env=env)
    assert (work / "tflite" / "denoiser_sigma25_fp32.tflite").stat().st_size > 1e6
    (work / "tiny_set").mkdir()
    Image.fromarray(clean).save(work / "tiny_set" / "astronaut.png")
    evaluated = _run(
        [semdenoise, "evaluate", "--sets", "tiny_set", "--sigmas", "25", "--out", "tables"],  # a set given as a path
        cwd=work,
        env=env,
    )
    table = (work / "tables" / "results.md").read_text()
    assert "### tiny_set (1 images)" in table and "| Proposed (ours) |" in table, evaluated.stdout[-2000:]
