import dataclasses

import h5py
import keras
import numpy as np
import pytest

from keras_semdenoise.models.heads import VGG16Trunk, build_deeplab_largefov, build_vgg16_classifier, feature_extractor
from keras_semdenoise.models.heads.vgg16 import CaffeInput


def test_full_size_vgg16_matches_keras_applications():
    ours = build_vgg16_classifier(1000, top="fc")
    reference = keras.applications.VGG16(weights=None)
    assert ours.count_params() == reference.count_params() == 138_357_544
    assert [l.name for l in ours.layers if l.weights] == [l.name for l in reference.layers if l.weights]


def test_caffe_input_matches_keras_preprocess_input():
    rgb01 = np.random.default_rng(0).uniform(size=(2, 5, 4, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(rgb01 * 255.0)
    np.testing.assert_allclose(np.asarray(CaffeInput()(rgb01)), expected, atol=1e-4)


def test_backbone_weights_load_from_a_local_vgg16_h5(tmp_path):
    from keras.src.legacy.saving import legacy_h5_format

    source = keras.applications.VGG16(include_top=False, weights=None)
    path = str(tmp_path / "vgg16_notop.h5")
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, source)
    model = build_deeplab_largefov(21, trunk=VGG16Trunk(weights=path))
    for name in ("block1_conv1", "block3_conv3", "block5_conv3"):
        for a, b in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_own_weights_round_trip_and_bad_weights(tmp_path):
    trunk = VGG16Trunk(input_shape=(32, 32, 3), width_divisor=8)
    head = build_vgg16_classifier(10, trunk=trunk, top="gap", hidden_units=16)
    path = str(tmp_path / "head.weights.h5")
    head.save_weights(path)
    again = build_vgg16_classifier(10, trunk=dataclasses.replace(trunk, weights=path), top="gap", hidden_units=16)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(head(x)), atol=1e-6)
    assert tuple(feature_extractor(head)(x).shape) == (2, 8, 8, 32)
    with pytest.raises(ValueError, match="weights must be"):
        build_vgg16_classifier(10, trunk=VGG16Trunk(weights=str(tmp_path / "missing.h5")))
    with pytest.raises(ValueError, match="width_divisor"):
        build_deeplab_largefov(21, trunk=VGG16Trunk(width_divisor=3))


def test_batch_norm_heads_keep_relu3_3_and_refuse_pretrained_weights():
    trunk = VGG16Trunk(input_shape=(32, 32, 3), width_divisor=16, batch_norm=True)
    head = build_vgg16_classifier(10, trunk=trunk, top="gap", hidden_units=8)
    assert isinstance(head.get_layer("block3_conv3"), keras.layers.ReLU)
    assert isinstance(head.get_layer("block3_conv3_bn"), keras.layers.BatchNormalization)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    assert float(np.min(feature_extractor(head)(x))) >= 0.0
    segmenter = build_deeplab_largefov(11, trunk=VGG16Trunk(width_divisor=16, batch_norm=True), fc_units=64)
    assert tuple(segmenter(x).shape) == (2, 32, 32, 11)
    with pytest.raises(ValueError, match="no batch norm"):
        build_deeplab_largefov(11, trunk=VGG16Trunk(weights="imagenet", batch_norm=True))


def _trunk_layer_names():
    """images, caffe_input, then Keras' VGG16 names: block{i}_conv{j} and block{i}_pool."""
    names = ["images", "caffe_input"]
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        names += [f"block{block}_conv{conv}" for conv in range(1, convs + 1)] + [f"block{block}_pool"]
    return names


def test_trunk_defaults_build_the_heads_the_old_keyword_signatures_built():
    # Layer names and parameter counts of build_vgg16_classifier(10, width_divisor=16, hidden_units=8) and
    # build_deeplab_largefov(11, width_divisor=16) before the trunk options moved into VGG16Trunk.
    trunk = VGG16Trunk(width_divisor=16)
    classifier = build_vgg16_classifier(10, trunk=trunk, hidden_units=8)
    assert classifier.input_shape == (None, 224, 224, 3) and classifier.count_params() == 70_542
    assert [l.name for l in classifier.layers] == _trunk_layer_names() + [
        "flatten",
        "fc1",
        "fc1_dropout",
        "fc2",
        "fc2_dropout",
        "predictions",
    ]
    segmenter = build_deeplab_largefov(11, trunk=trunk)
    assert segmenter.input_shape == (None, None, None, 3) and segmenter.count_params() == 81_199
    assert [l.name for l in segmenter.layers] == _trunk_layer_names() + [
        "fc6",
        "fc6_dropout",
        "fc7",
        "fc7_dropout",
        "fc8",
        "upsample",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        trunk.width_divisor = 8
