import os

import numpy as np
import pytest
from conftest import TINY, run_module
from PIL import Image

from keras_semdenoise.models.denoiser import build_denoiser
from keras_semdenoise.models.heads import load_head
from keras_semdenoise.training.cascade import CascadeTrainer, input_gradient_maps


@pytest.mark.slow
def test_gradient_maps_of_every_term(trained_classification_head):
    root, data = trained_classification_head
    head = load_head(str(root / "head" / "head.keras"))
    trainer = CascadeTrainer(build_denoiser(zero_init_output=False, **TINY), head, "classification")
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(1, 32, 32, 3)).astype("float32")
    maps = input_gradient_maps(trainer, clean + 0.1, clean, np.array([1]))
    assert set(maps) == {"reconstruction", "perceptual", "task", "total"}
    assert all(m.shape == (1, 32, 32) and m.max() > 0 for m in maps.values())

    image = os.path.join(data, "test", "class1", "0.png")
    out = root / "grad.png"
    result = run_module(
        [
            "tools.gradient_maps",
            "--task=classification",
            f"--image={image}",
            "--label=1",
            f"--head={root}/head/head.keras",
            f"--denoiser={root}/joint_s15.keras",
            "--crop_size=32",
            f"--out={out}",
        ],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(out).size[0] > 600
