"""Batch norm folding and precision clones of a trained denoiser: same function, inference-ready."""

import keras
import numpy as np
import pytest

from keras_semdenoise.deploy import graph_transforms, inference
from keras_semdenoise.models.denoiser import build_denoiser


def _trained_like(model, seed=0):
    """Random non-trivial BN statistics and weights, as after training."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, channels),
                    rng.normal(0, 0.2, channels),
                    rng.normal(0, 0.3, channels),
                    rng.uniform(0.2, 2.0, channels),
                ]
            )
    return model


@pytest.mark.parametrize("scales,skip", [(2, True), (3, True), (4, False)])
def test_folded_model_has_no_batch_norm_and_the_same_outputs(scales, skip):
    model = _trained_like(
        build_denoiser(
            num_scales=scales,
            stem_filters=8,
            encoder_filters=(8,) * (scales - 1),
            decoder_filters=(16,) * (scales - 2),
            global_skip=skip,
            zero_init_output=False,
            dtype_policy="float32",
        )
    )
    folded = graph_transforms.fold_batch_norm(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert [layer.name for layer in folded.layers] == [layer.name for layer in model.layers]
    noisy = np.random.default_rng(1).uniform(0, 1, (2, 21, 18, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(folded(noisy)), np.asarray(model(noisy, training=False)), atol=1e-5)


def test_load_denoiser_bf16_is_folded_mixed_precision_and_close_to_fp32(tmp_path, tiny_kwargs):
    model = _trained_like(build_denoiser(**tiny_kwargs, zero_init_output=False, dtype_policy="float32"))
    path = str(tmp_path / "m.keras")
    model.save(path)
    fp32 = inference.load_denoiser(path)
    bf16 = inference.load_denoiser(path, precision="bf16")
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in fp32.layers)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in bf16.layers)
    assert bf16.get_layer("conv0").compute_dtype == "bfloat16" and bf16.get_layer("sum").compute_dtype == "float32"
    noisy = np.random.default_rng(2).uniform(0, 1, (1, 32, 40, 3)).astype(np.float32)
    a, b = np.asarray(fp32(noisy)), np.asarray(bf16(noisy))
    assert b.dtype == np.float32 and not np.array_equal(a, b)
    assert np.abs((a - noisy) - (b - noisy)).max() <= 0.02 * np.abs(a - noisy).max() + 1e-3
    # The folded bf16 model saves and loads after `import keras_semdenoise.deploy.graph_transforms` (registered layer).
    bf16.save(str(tmp_path / "bf16.keras"))
    again = keras.saving.load_model(str(tmp_path / "bf16.keras"), compile=False)
    np.testing.assert_allclose(np.asarray(again(noisy)), b, atol=1e-6)
    with pytest.raises(ValueError, match="precision"):
        inference.load_denoiser(path, precision="int4")
    assert inference.resolve_precision("fp32") == "fp32"


def test_phase_conv_upsample_equals_a_4x4_stride_2_transposed_conv():
    rng = np.random.default_rng(3)
    transposed = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same")
    transposed.build((None, None, None, 7))
    transposed.set_weights([rng.normal(size=(4, 4, 5, 7)), rng.normal(size=5)])
    phased = graph_transforms.PhaseConvUpsample(5)
    phased.build((None, None, None, 7))
    phased.set_weights(graph_transforms.transposed_conv_weights(*transposed.get_weights()))
    for shape in ((1, 1, 1, 7), (2, 5, 9, 7)):
        x = rng.normal(size=shape).astype(np.float32)
        assert phased(x).shape == (shape[0], 2 * shape[1], 2 * shape[2], 5)
        np.testing.assert_allclose(np.asarray(phased(x)), np.asarray(transposed(x)), atol=1e-5)


def test_denoiser_with_phase_convs_computes_the_same(tiny_kwargs):
    model = _trained_like(build_denoiser(**tiny_kwargs, zero_init_output=False, dtype_policy="float32"))
    phased = graph_transforms.transposed_conv_as_phase_conv(model)
    assert [layer.name for layer in phased.layers] == [layer.name for layer in model.layers]
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in phased.layers)
    assert sum(isinstance(layer, graph_transforms.PhaseConvUpsample) for layer in phased.layers) == 2
    for shape in ((1, 1, 1, 3), (2, 13, 22, 3)):
        noisy = np.random.default_rng(4).uniform(0, 1, shape).astype(np.float32)
        np.testing.assert_allclose(np.asarray(phased(noisy)), np.asarray(model(noisy, training=False)), atol=1e-5)
    assert graph_transforms.transposed_conv_as_phase_conv(phased) is phased  # nothing left to rewrite


def test_training_twin_is_the_model_in_float32_and_a_bf16_copy_otherwise(tiny_kwargs):
    model = _trained_like(build_denoiser(**tiny_kwargs, zero_init_output=False, dtype_policy="float32"))
    assert graph_transforms.training_twin(model, "float32") is model
    twin = graph_transforms.training_twin(model, "mixed_bfloat16")
    assert twin is not model and twin.get_layer("conv0").compute_dtype == "bfloat16"
    assert model.get_layer("conv0").compute_dtype == "float32"
    # The twin trains; its weights go back into the float32 model, which then computes with them.
    twin.set_weights([w + 0.01 for w in twin.get_weights()])
    graph_transforms.copy_weights(twin, model)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    graph_transforms.copy_weights(model, model)  # one network: nothing to copy, no error
