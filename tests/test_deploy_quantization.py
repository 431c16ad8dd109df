import numpy as np
from conftest import TINY

from keras_semdenoise.deploy import quantization
from keras_semdenoise.models.denoiser import build_denoiser


def test_equalized_copy_computes_the_same_and_evens_out_concat_ranges():
    model = build_denoiser(zero_init_output=False, **TINY)
    rng = np.random.default_rng(0)
    # Blow up the upsampled branches, as training does (up2 spans ~43 vs its skip's ~17 in the shipped model).
    for layer in model.layers:
        if layer.name.startswith("up"):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * rng.uniform(5, 50, kernel.shape[2])[None, None, :, None], bias])
    plans = quantization.concat_plans(model)
    assert {concat.name for concat, *_ in plans} == {"cat2", "cat3"}
    calibration = [rng.uniform(size=(16, 16, 3)).astype("float32") for _ in range(4)]
    equalized = quantization.equalize_concat_inputs(model, calibration)
    x = rng.uniform(size=(1, 24, 20, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(equalized(x)), np.asarray(model(x)), atol=1e-4)
    for _concat, _, producers, flags in plans:
        names = [p.name for p in producers]
        before = quantization.channel_ranges(model, names, calibration)
        after = quantization.channel_ranges(equalized, names, calibration)
        fixed = max(before[p.name].max() for p, flag in zip(producers, flags) if not flag)
        for producer, flag in zip(producers, flags):
            if flag:  # every rescaled channel now spans what the unscaled inputs span
                assert before[producer.name].max() > 2 * fixed
                np.testing.assert_allclose(after[producer.name], fixed, rtol=1e-3)
    assert [w.shape for w in equalized.get_weights()] == [w.shape for w in model.get_weights()]
    # the original model is left as it was
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(equalized(x)), atol=1e-4)
