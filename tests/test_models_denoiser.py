import inspect
import os

import keras
import numpy as np
import pytest
from conftest import REPO

from keras_semdenoise.deploy import inference
from keras_semdenoise.models.denoiser import MultiScaleDenoiser, build_denoiser
from keras_semdenoise.models.padding import CropLike, SymmetricPadToMultiple

PAPER_PARAMETERS = 1_026_000

# The official layer table (PAPER.md), in order, with the output channels of each named op.
OFFICIAL_TABLE = [
    ("conv0", 64),
    ("conv1_conv", 128),
    ("res1_out", 128),
    ("conv2_conv", 128),
    ("res2_out", 128),
    ("up2", 32),
    ("cat2", 160),
    ("conv3_conv", 256),
    ("res3_out", 256),
    ("up3", 64),
    ("cat3", 128),
    ("out", 3),
    ("sum", 3),
]


def test_full_size_model_matches_official_table_and_parameter_count():
    model = build_denoiser()
    names = [layer.name for layer in model.layers]
    positions = [names.index(name) for name, _ in OFFICIAL_TABLE]
    assert positions == sorted(positions), "layers out of the official order"
    for name, channels in OFFICIAL_TABLE:
        assert model.get_layer(name).output.shape[-1] == channels, name
    # Residual blocks: 1x1 (C/4) -> 3x3 (C/4) -> 1x1 (C), no biases.
    for block, width in (("res1", 128), ("res2", 128), ("res3", 256)):
        kernels = [model.get_layer(f"{block}_conv{i}").kernel.shape for i in (1, 2, 3)]
        assert kernels == [(1, 1, width, width // 4), (3, 3, width // 4, width // 4), (1, 1, width // 4, width)]
        assert all(not model.get_layer(f"{block}_conv{i}").use_bias for i in (1, 2, 3))
    assert model.get_layer("conv1_conv").strides == (2, 2)
    assert model.get_layer("up2").kernel.shape[:2] == (4, 4)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert abs(trainable - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.01, trainable


@pytest.mark.parametrize("height,width", [(1, 1), (5, 7), (48, 48), (33, 17), (17, 50)])
def test_any_input_size_gives_same_shape(tiny_kwargs, height, width):
    model = build_denoiser(**tiny_kwargs)
    x = np.random.default_rng(0).uniform(size=(2, height, width, 3)).astype("float32")
    assert tuple(model(x).shape) == (2, height, width, 3)


@pytest.mark.parametrize("scales,multiple", [(2, 2), (3, 4), (4, 8)])
def test_scales_are_parameterised(scales, multiple):
    model = build_denoiser(
        num_scales=scales, stem_filters=8, encoder_filters=(8,) * (scales - 1), decoder_filters=(16,) * (scales - 2)
    )
    assert model.get_layer("pad").multiple == multiple
    assert tuple(model(np.zeros((1, 11, 13, 3), "float32")).shape) == (1, 11, 13, 3)


def test_untrained_model_is_identity_with_zero_output_conv(tiny_kwargs):
    model = build_denoiser(**tiny_kwargs)
    x = np.random.default_rng(1).uniform(size=(1, 9, 10, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), x, atol=1e-6)
    no_skip = build_denoiser(global_skip=False, zero_init_output=False, **tiny_kwargs)
    assert np.abs(np.asarray(no_skip(x)) - x).max() > 1e-3


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_scales=5), dict(num_scales=1), dict(encoder_filters=(8,), decoder_filters=(8,)), dict(stem_filters=2)],
)
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        build_denoiser(**kwargs)


def test_symmetric_padding_handles_tiny_images():
    x = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
    padded = np.asarray(SymmetricPadToMultiple(4)(x))
    assert padded.shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(padded[0, :, :, 0], [[0, 1, 2, 2]] * 4)
    cropped = CropLike()(padded, x)
    np.testing.assert_array_equal(np.asarray(cropped), x)


def test_save_and_load_round_trip(tmp_path, tiny_kwargs):
    model = build_denoiser(zero_init_output=False, **tiny_kwargs)
    x = np.random.default_rng(2).uniform(size=(1, 13, 9, 3)).astype("float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert isinstance(loaded, MultiScaleDenoiser) and loaded.get_config() == model.get_config()
    assert inference.size_multiple(loaded) == 4


def test_config_is_the_constructor_arguments_and_rebuilds_the_same_network(tiny_kwargs):
    model = build_denoiser(zero_init_output=False, **tiny_kwargs)
    config = model.get_config()
    arguments = set(inspect.signature(build_denoiser).parameters)  # the class takes build_denoiser's arguments
    assert set(config) == arguments | {"trainable"}
    assert config["encoder_filters"] == [8, 8] and config["num_scales"] == 3 and model.size_multiple == 4
    rebuilt = MultiScaleDenoiser.from_config(config)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(3).uniform(size=(2, 10, 7, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(model(x)))
    assert (
        MultiScaleDenoiser(num_scales=4, stem_filters=8, encoder_filters=(8,) * 3, decoder_filters=(8, 8)).size_multiple
        == 8
    )


def test_a_plain_functional_file_still_loads_and_its_weights_fit_the_class(tmp_path, tiny_kwargs):
    """Files saved before ``MultiScaleDenoiser`` (class ``Functional``, same layers) load as they were."""
    model = build_denoiser(zero_init_output=False, **tiny_kwargs)
    plain = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    assert type(plain) is keras.src.models.functional.Functional
    path = str(tmp_path / "old.keras")
    plain.save(path)
    x = np.random.default_rng(4).uniform(size=(1, 11, 14, 3)).astype("float32")
    expected = np.asarray(model(x))
    loaded = inference.load_denoiser(path)
    assert not isinstance(loaded, MultiScaleDenoiser) and inference.size_multiple(loaded) == 4
    np.testing.assert_array_equal(np.asarray(loaded(x)), expected)
    fast = inference.load_denoiser(path, precision="bf16")
    np.testing.assert_allclose(np.asarray(fast(x)), expected, atol=0.05)
    # A run that starts from an old file (--init_weights) gets its weights into the class.
    fresh = build_denoiser(**tiny_kwargs)
    fresh.load_weights(path)
    np.testing.assert_array_equal(np.asarray(fresh(x)), expected)


def test_a_shipped_model_loads_after_importing_the_package():
    path = os.path.join(REPO, "saved_models", "denoiser_sigma25.keras")
    if not os.path.exists(path):
        pytest.skip("no shipped model in this checkout")
    model = keras.saving.load_model(path, compile=False)
    assert inference.size_multiple(model) == 4 and tuple(model(np.zeros((1, 5, 6, 3), "float32")).shape) == (1, 5, 6, 3)
