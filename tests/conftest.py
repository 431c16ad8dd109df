"""Shared fixtures and helpers: tiny models, tiny image and task folders, so every test runs in seconds.

Where a test lives (one rule, so the tests of a module are found by its name):

- ``keras_semdenoise/X.py`` is tested in ``tests/test_X.py``; a subpackage's ``keras_semdenoise/P/X.py`` in
  ``tests/test_P_X.py`` (``evaluation/task_scores.py``: ``test_evaluation_task_scores.py``; ``models/heads/vgg16.py``:
  ``test_models_heads_vgg16.py``).
- An entry point ``tools/X.py`` or ``train/X.py`` is tested in ``tests/test_tools_X.py`` or
  ``tests/test_train_X.py``. A program that is a package of small modules has one file named after the package
  (``bench/``: ``test_bench.py``; ``tools/P/``: ``test_tools_P.py``).
- A test goes to the module whose behaviour it asserts, the last step where it drives a chain (a head trained,
  then a joint denoiser: ``test_training_joint.py``); one that runs a module through its entry point
  (``python -m tools.X``) goes to the entry point's file.
- Behaviour that no single module owns keeps a file named after the behaviour: ``test_any_backend.py``
  (training without TensorFlow), ``test_quiet.py`` (quiet start-up), ``test_registration.py`` (loading after
  ``import keras_semdenoise``), ``test_wheel.py`` (the installed wheel).
- Files the tests use that are not tests do not start with ``test_``: scripts run in a subprocess
  (``cascade_step_script.py``, ``multiworker_script.py``) and test doubles (``serving_double.py``, a loopback
  stand-in for TF Serving). Helpers used by more than one test file live here.

Tests that take more than about 10 s on a 2-core CPU are marked ``@pytest.mark.slow``: ``make test-quick``
(``pytest -m "not slow"``) leaves them out for a quick loop; ``make test`` runs everything.
"""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench/, tools/, train/

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

TINY = dict(stem_filters=8, encoder_filters=(8, 8), decoder_filters=(16,))
TINY_FLAGS = ["--stem_filters=8", "--encoder_filters=8,8", "--decoder_filters=16"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


@pytest.fixture
def tiny_kwargs():
    return dict(TINY)


@pytest.fixture(scope="module")
def tiny_random_model():
    """A tiny denoiser whose output convolution is not zero, so it is not the identity."""
    from keras_semdenoise.models.denoiser import build_denoiser

    return build_denoiser(zero_init_output=False, **TINY)


def run_module(args, timeout=300):
    """Runs ``python -m <args>`` in the checkout with TensorFlow's start-up lines silenced; text output."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def write_images(folder, count=4, size=(40, 32), seed=0, fmt="png"):
    """Writes ``count`` smooth random RGB images (width, height = size) into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        base = rng.uniform(0, 255, (size[1] // 4 + 1, size[0] // 4 + 1, 3)).astype(np.uint8)
        image = Image.fromarray(base).resize(size, Image.BILINEAR)
        path = os.path.join(folder, f"img{index:02d}.{fmt}")
        image.save(path)
        paths.append(path)
    return paths


def write_training_folder(folder):
    """Three 24x24 training images in ``folder``, one of them named as the first held-out validation image
    (``data.patches.VALIDATION_IDS``), so that a run there trains on two and evaluates on one."""
    from keras_semdenoise.data import patches

    write_images(str(folder), count=3, size=(24, 24))
    os.replace(os.path.join(folder, "img02.png"), os.path.join(folder, f"{patches.VALIDATION_IDS[0]}.png"))
    return str(folder)


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    write_images(str(folder))
    return str(folder)


def classification_folder(root, classes=3, per_class=4, size=16):
    """A class-per-folder task set: ``root/{train,test}/class<i>/<k>.png``, one mean brightness per class."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for index in range(classes):
            folder = os.path.join(root, split, f"class{index}")
            os.makedirs(folder)
            for k in range(per_class):
                pixels = np.clip(rng.normal(60 + 60 * index, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(folder, f"{k}.png"))
    return root


def segmentation_folder(root, count=4, size=(24, 20), void=3):
    """A segmentation task set: ``root/<split>/f<k>.png`` and labels 0..2 in ``root/<split>annot``, void rows."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f"{split}annot"))
        for k in range(count):
            label = rng.integers(0, 3, (size[1] // 4, size[0] // 4)).repeat(4, 0).repeat(4, 1).astype(np.uint8)
            label[:2] = void
            image = (label[..., None] * 80 + rng.integers(0, 30, label.shape + (3,))).astype(np.uint8)
            Image.fromarray(image).save(os.path.join(root, split, f"f{k}.png"))
            Image.fromarray(label, "L").save(os.path.join(root, f"{split}annot", f"f{k}.png"))
    return root


@pytest.fixture(scope="session")
def trained_classification_head(tmp_path_factory):
    """A tiny classification head trained 2 steps on a 32-pixel class folder, and untrained tiny denoisers
    ``{separate,joint}_s{15,30}.keras`` beside it; returns (root folder, data folder)."""
    from keras_semdenoise.models.denoiser import build_denoiser
    from keras_semdenoise.training.head_training import HeadConfig, run_head_training

    root = tmp_path_factory.mktemp("task")
    data = classification_folder(str(root / "cls"), size=32, per_class=2)
    config = HeadConfig(
        task="classification",
        data=data,
        model_dir=str(root / "head"),
        width_divisor=16,
        hidden_units=8,
        crop_size=32,
        batch_size=3,
        steps=2,
        checkpoint_every=2,
        eval_split=None,
        verbose=0,
        seed=0,
    )
    run_head_training(config)
    for name in ("separate", "joint"):
        for sigma in (15, 30):
            build_denoiser(zero_init_output=False, **TINY).save(str(root / f"{name}_s{sigma}.keras"))
    return root, data


def no_tensorflow_env(tmp_path, **extra):
    """An environment where ``import tensorflow`` fails (the GPU machine has none) and Keras runs on JAX."""
    hide = tmp_path / "hide_tf" / "tensorflow"
    hide.mkdir(parents=True, exist_ok=True)
    (hide / "__init__.py").write_text('raise ImportError("no TensorFlow on this machine (test)")\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        KERAS_BACKEND="jax",
        PYTHONPATH=str(tmp_path / "hide_tf"),
        TF_CPP_MIN_LOG_LEVEL="2",
        JAX_PLATFORMS="cpu",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env
