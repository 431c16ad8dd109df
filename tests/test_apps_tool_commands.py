"""``semdenoise export``, ``evaluate`` and ``train`` (``apps.tool_commands``), run in-process on a tiny untrained
model and tiny images."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, TINY, write_images

from keras_semdenoise.apps import cli
from keras_semdenoise.models import shipped
from keras_semdenoise.models.denoiser import build_denoiser


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    """A tiny sigma-25 model (the identity until trained) saved once per module, in a folder of its own."""
    path = tmp_path_factory.mktemp("models") / "denoiser_sigma25.keras"
    build_denoiser(**TINY).save(str(path))
    return path


@pytest.fixture
def models_dir(tiny_model_file, monkeypatch):
    """``$SEMDENOISE_MODELS_DIR`` pointing at the tiny model only (never the real shipped ones)."""
    monkeypatch.setenv(shipped.MODELS_ENV, str(tiny_model_file.parent))
    return tiny_model_file.parent


def test_export_savedmodel_and_tflite_from_a_model_file(tiny_model_file, models_dir, tmp_path, capsys):
    import tensorflow as tf

    base = tmp_path / "exported"
    argv = ["export", "savedmodel", "--model", str(tiny_model_file), "--base", str(base), "--precision", "fp32"]
    assert cli.main([*argv, "--version", "3"]) == 0
    assert f"exported {tiny_model_file} (fp32) to {base / 'semdenoise' / '3'}" in capsys.readouterr().err
    served = tf.saved_model.load(str(base / "semdenoise" / "3"))
    image = np.random.default_rng(0).integers(0, 256, (1, 20, 28, 3), dtype=np.uint8)  # the default signature: uint8
    outputs = served.signatures["serving_default"](images=tf.constant(image))
    # The untrained tiny model is the identity (zero-initialised output conv + global skip): the image comes back.
    np.testing.assert_array_equal(next(iter(outputs.values())).numpy(), image)

    # No --model: the shipped model for --sigma, by shipped.resolve_model (30 has none: the nearest, said so).
    out_dir = tmp_path / "tflite"
    assert cli.main(["export", "tflite", "--sigma", "30", "--out-dir", str(out_dir)]) == 0
    err = capsys.readouterr().err
    assert "note: no model trained for sigma 30; using the sigma-25 model" in err
    assert [p.name for p in out_dir.iterdir()] == ["denoiser_sigma25_fp32.tflite"]
    interpreter = tf.lite.Interpreter(model_path=str(out_dir / "denoiser_sigma25_fp32.tflite"))
    (entry,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(entry["index"], [1, 12, 16, 3])
    interpreter.allocate_tensors()
    pixels = np.random.default_rng(1).uniform(0, 1, (1, 12, 16, 3)).astype(np.float32)
    interpreter.set_tensor(entry["index"], pixels)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), pixels, atol=1e-5)


def test_argument_errors_are_one_line_before_tensorflow_starts(tmp_path):
    """Every bad argument of export and evaluate is one ``error:`` line, exit 2, found before TensorFlow starts."""
    (tmp_path / "no_data").mkdir()
    write_images(str(tmp_path / "set"), count=1, size=(8, 8))
    model, missing = tmp_path / "m.keras", tmp_path / "none.keras"
    model.write_bytes(b"")
    cases = [
        (["export", "savedmodel", "--model", missing], f"model not found: {missing}"),
        (["export", "savedmodel", "--model", model, "--version", "0"], "--version must be >= 1"),
        (["export", "tflite", "--sigma", "abc"], "--sigma: sigma must be a number"),
        (["export", "tflite", "--model", model, "--precision", "int4"], "--precision takes fp32, fp16, int8"),
        (
            ["export", "tflite", "--model", model, "--precision", "fp16,int8"],
            "int8 needs calibration images: no folder",
        ),
        (["export", "tflite", "--sigma", "25"], "no shipped denoiser in"),
        (["evaluate", "--sets", tmp_path / "no_set", "--out", tmp_path], "no data set"),
        (["evaluate", "--sets", tmp_path / "set", "--methods", "guess", "--out", tmp_path], "unknown method 'guess'"),
        (["evaluate", "--sets", tmp_path / "set", "--sigmas", "300", "--out", tmp_path], "--sigmas: sigma must be"),
        (["evaluate", "--sets", tmp_path / "set", "--model", f"x={missing}", "--out", tmp_path], "model not found"),
    ]
    check = (
        "import sys; from keras_semdenoise.apps import cli\n"
        f"for argv in {[[str(a) for a in argv] for argv, _ in cases]!r}:\n"
        "    print('exit', cli.main(argv), file=sys.stderr)\n"
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'TensorFlow imported'\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO, SEMDENOISE_DATA_DIR=str(tmp_path / "no_data"))
    env[shipped.MODELS_ENV] = str(tmp_path / "no_data")
    shown = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stderr.splitlines()
    assert len(lines) == 2 * len(cases), shown.stderr
    for (argv, message), (said, code) in zip(cases, zip(lines[::2], lines[1::2])):
        assert said.startswith("error: ") and message in said, (argv, said)
        assert code == "exit 2", (argv, code)


def test_evaluate_writes_the_tables_of_a_tiny_set(tiny_model_file, tmp_path, capsys):
    write_images(str(tmp_path / "tiny_set"), count=2, size=(24, 20))
    out = tmp_path / "evaluation"
    argv = ["evaluate", "--sets", str(tmp_path / "tiny_set"), "--sigmas", "25", "--methods", "noisy"]
    assert cli.main([*argv, "--model", f"tiny={tiny_model_file}", "--out", str(out)]) == 0
    table = (out / "results.md").read_text()
    assert "### tiny_set (2 images)" in table and "| tiny |" in table and "| noisy input |" in table
    assert set(os.listdir(out)) == {"results.json", "results.md"}
    assert table.strip() in capsys.readouterr().out


def test_train_help_and_tool_constants_are_the_library_s(capsys):
    from keras_semdenoise.apps import tool_commands, training_runs
    from keras_semdenoise.deploy import export, inference
    from keras_semdenoise.evaluation import tables

    assert tool_commands.PRECISIONS == inference.PRECISIONS
    assert tool_commands.TFLITE_PRECISIONS == export.TFLITE_PRECISIONS
    assert tool_commands.CALIBRATION_PATCHES == export.CALIBRATION_PATCHES
    assert tool_commands.EVALUATION_METHODS == tables.BUILT_IN_METHODS
    assert tool_commands.TRAINING_KINDS == training_runs.KINDS == tuple(training_runs.MAINS)
    assert cli.main(["train", "--help"]) == 0
    assert "denoiser,joint,head" in capsys.readouterr().out
    assert cli.main(["train", "tune"]) == cli.EXIT_USAGE


@pytest.mark.slow
def test_train_runs_the_training_entry_point_with_its_flags(tmp_path, capfd):
    from conftest import TINY_FLAGS, write_training_folder

    write_training_folder(tmp_path / "images")
    model_dir = tmp_path / "run"
    argv = ["train", "denoiser", f"--data_dir={tmp_path / 'images'}", f"--model_dir={model_dir}", "--steps=2"]
    argv += ["--batch_size=2", "--patch_size=16", "--checkpoint_every=1", "--warmup_steps=0", "--eval_images=1"]
    assert cli.main([*argv, *TINY_FLAGS, "--dtype_policy=float32"]) == 0
    assert (model_dir / "final.weights.h5").exists() and (model_dir / "history.json").exists()
    capfd.readouterr()
    assert cli.main(["train", "joint", "--help"]) == 0
    helped = capfd.readouterr().out
    assert "--head" in helped and "--lambda" in helped.lower(), helped[-2000:]
    assert cli.main(["train", "denoiser", "--no_such_flag=1"]) == cli.EXIT_USAGE
    assert capfd.readouterr().err.strip() == "error: Unknown command line flag 'no_such_flag'"
    assert cli.main(["train", "head", "--data=x"]) == cli.EXIT_USAGE  # --model_dir is required
    (said,) = capfd.readouterr().err.strip().splitlines()
    assert said.startswith("error: flag --task=None: ") and "; flag --model_dir=None: " in said, said
