import keras
import numpy as np

from keras_semdenoise.models.heads import VGG16Trunk, build_deeplab_largefov
from keras_semdenoise.models.heads.vgg16 import VGG16_BLOCKS


def _trunk_parameters():
    total, previous = 0, 3
    for block in VGG16_BLOCKS:
        for width in block:
            total += 9 * previous * width + width
            previous = width
    return total


def test_full_size_deeplab_largefov_parameter_count_and_output_stride():
    model = build_deeplab_largefov(21)
    fc6, fc7, fc8 = 9 * 512 * 1024 + 1024, 1024 * 1024 + 1024, 1024 * 21 + 21
    assert model.count_params() == _trunk_parameters() + fc6 + fc7 + fc8 == 20_505_429
    assert model.get_layer("fc6").dilation_rate == (12, 12)
    assert model.get_layer("block5_conv1").dilation_rate == (2, 2)
    assert [model.get_layer(f"block{i}_pool").strides for i in range(1, 6)] == [(2, 2)] * 3 + [(1, 1)] * 2
    small = build_deeplab_largefov(11, trunk=VGG16Trunk(width_divisor=16), fc_units=64)
    x = np.zeros((1, 67, 45, 3), "float32")
    intermediate = keras.Model(small.input, small.get_layer("fc8").output)
    assert tuple(intermediate(x).shape[1:3]) == (9, 6)  # output stride 8 (ceil)
    assert tuple(small(x).shape) == (1, 67, 45, 11)  # upsampled back
