import dataclasses

import numpy as np
import pytest

from keras_semdenoise.models.heads import build_head
from keras_semdenoise.training.head_training import HeadConfig


def test_build_head_takes_its_shape_from_the_config():
    config = HeadConfig(
        task="classification", data="unused", model_dir="unused", width_divisor=16, crop_size=32, hidden_units=8
    )
    classifier = build_head(config, 3)
    assert classifier.input_shape == (None, 32, 32, 3) and classifier.output_shape == (None, 3)
    assert classifier.get_layer("hidden").units == 8
    segmenter = build_head(dataclasses.replace(config, task="segmentation", fc_units=64), 5)
    assert segmenter.input_shape == (None, None, None, 3) and segmenter.get_layer("fc6").filters == 4
    with pytest.raises(ValueError, match="fixed crop_size"):
        build_head(dataclasses.replace(config, crop_size=None), 3)
    with pytest.raises(ValueError, match="task must be one of"):
        build_head(dataclasses.replace(config, task="detection"), 3)


def test_build_head_runs_a_segmenter_at_its_input_scale_and_refuses_it_for_classifiers():
    from keras_semdenoise.models.heads.deeplab import input_scale_of

    config = HeadConfig(
        task="segmentation", data="unused", model_dir="unused", width_divisor=16, fc_units=16, input_scale=1.5
    )
    segmenter = build_head(config, 3)
    assert input_scale_of(segmenter) == 1.5
    assert segmenter(np.zeros((1, 16, 24, 3), np.float32)).shape == (1, 16, 24, 3)
    with pytest.raises(ValueError, match="segmentation heads only"):
        dataclasses.replace(config, task="classification", crop_size=32)
    with pytest.raises(ValueError, match="input_scale"):
        dataclasses.replace(config, input_scale=0.0)
