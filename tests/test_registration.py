"""``import keras_semdenoise`` is enough for ``keras.saving.load_model`` (keras-hub convention),
whichever of keras and keras_semdenoise is imported first, and ``--help`` still starts no TensorFlow."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

NAMES = ("SymmetricPadToMultiple", "CropLike", "FoldedBatchNorm", "psnr_float", "MultiScaleDenoiser", "DnCNN")


@pytest.mark.parametrize(
    "imports",
    [
        "import keras_semdenoise; import keras",
        "import keras; import keras_semdenoise",
        # TensorFlow asks importlib.util.find_spec('keras') before importing it; the entry points import it first.
        "import keras_semdenoise, importlib.util; importlib.util.find_spec('keras'); import keras",
        "import tools; import keras",
    ],
)
def test_shipped_and_folded_models_load_after_importing_the_package(tmp_path, imports):
    from keras_semdenoise.deploy import inference

    folded = tmp_path / "folded.keras"
    inference.load_denoiser(os.path.join(REPO, "saved_models", "denoiser_sigma25.keras"), precision="bf16").save(
        str(folded)
    )
    script = (
        f"{imports}\n"
        "m = keras.saving.load_model('saved_models/denoiser_sigma25.keras', compile=False)\n"
        f"f = keras.saving.load_model({str(folded)!r}, compile=False)\n"
        f"missing = [n for n in {NAMES!r} if keras.saving.get_registered_object('keras_semdenoise>' + n) is None]\n"
        "print(m.count_params(), f.count_params(), missing)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    params, folded_params, missing = result.stdout.split(maxsplit=2)
    assert int(params) > 1_000_000 and int(folded_params) > 1_000_000 and missing.strip() == "[]"
