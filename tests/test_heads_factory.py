import dataclasses

import pytest

from keras_semdenoise.heads import build_head
from keras_semdenoise.heads.training import HeadConfig


def test_build_head_takes_its_shape_from_the_config():
    config = HeadConfig(task="classification", data="unused", model_dir="unused", width_divisor=16, crop_size=32,
                        hidden_units=8)
    classifier = build_head(config, 3)
    assert classifier.input_shape == (None, 32, 32, 3) and classifier.output_shape == (None, 3)
    assert classifier.get_layer("hidden").units == 8
    segmenter = build_head(dataclasses.replace(config, task="segmentation", fc_units=64), 5)
    assert segmenter.input_shape == (None, None, None, 3) and segmenter.get_layer("fc6").filters == 4
    with pytest.raises(ValueError, match="fixed crop_size"):
        build_head(dataclasses.replace(config, crop_size=None), 3)
    with pytest.raises(ValueError, match="task must be one of"):
        build_head(dataclasses.replace(config, task="detection"), 3)
