"""Shared fixtures: tiny models and tiny image folders, so every test runs in seconds."""

import os
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


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    write_images(str(folder))
    return str(folder)
