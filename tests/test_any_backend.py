"""Task evaluation without TensorFlow: tools.evaluate_task under KERAS_BACKEND=jax with TensorFlow hidden, as on
the lent GPU machine (the GPU runbook's own tests: tests/test_experiments_gpu_runbook.py)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, no_tensorflow_env

pytest.importorskip("jax", reason="jax comes with the test extras (pip install -e '.[test]')")


@pytest.mark.slow
def test_task_evaluation_runs_under_jax_without_tensorflow_and_keeps_the_same_cbm3d_estimates(tmp_path):
    """A GPU machine without TensorFlow can fill the CBM3D cache on its CPUs: from packed data under JAX it
    writes the same estimates, under the same keys, as the TensorFlow evaluation of the data folder here."""
    from conftest import classification_folder

    from keras_semdenoise.data import packed as packed_data
    from keras_semdenoise.models.heads import VGG16Trunk, build_vgg16_classifier

    data = classification_folder(str(tmp_path / "cls"), classes=3, per_class=1, size=32)
    packed_data.pack_split("classification", data, "test", str(tmp_path / "packed" / "test.npz"))
    head = str(tmp_path / "head.keras")
    build_vgg16_classifier(
        3, trunk=VGG16Trunk(input_shape=(32, 32, 3), width_divisor=16), top="gap", hidden_units=8
    ).save(head)
    outputs = {}
    for name, source, env in (
        ("jax", f"packed:{tmp_path / 'packed'}", no_tensorflow_env(tmp_path)),
        ("tf", data, {**os.environ, "KERAS_BACKEND": "tensorflow"}),
    ):
        out = tmp_path / name
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.evaluate_task",
                "--task=classification",
                f"--data={source}",
                "--split=test",
                f"--head={head}",
                "--crop_size=32",
                "--batch_size=4",
                "--settings=noisy,cbm3d",
                "--sigmas=25",
                "--workers=2",
                f"--out={out}",
                f"--cbm3d_cache={out / 'cache'}",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        cache = out / "cache" / "classification" / "test" / "crop32" / "sigma25"
        outputs[name] = (
            json.loads((out / "results.json").read_text())["cells"],
            {f: (cache / f).read_bytes() for f in os.listdir(cache)},
        )
    assert outputs["jax"][0] == outputs["tf"][0] and outputs["jax"][0]["cbm3d"]["25"]["images"] == 3
    assert len(outputs["jax"][1]) == 3 and outputs["jax"][1] == outputs["tf"][1]
