"""bf16 (mixed_bfloat16) denoiser: float32 at the edges, same weights as float32, close outputs."""

import numpy as np
import pytest

from keras_semdenoise.deploy import precision
from keras_semdenoise.models.denoiser import build_denoiser


def test_mixed_bf16_model_keeps_input_output_and_skip_in_float32(tiny_kwargs):
    model = build_denoiser(**tiny_kwargs, dtype_policy="mixed_bfloat16")
    dtypes = {layer.name: layer.dtype_policy.compute_dtype for layer in model.layers}
    for name in ("pad", "out", "sum", "crop"):
        assert dtypes[name] == "float32", name
    assert dtypes["conv0"] == dtypes["res1_conv2"] == "bfloat16"
    assert all(v.dtype == "float32" for v in model.weights)  # weights stay float32
    noisy = np.random.default_rng(0).uniform(0, 1, (1, 13, 17, 3)).astype(np.float32)
    output = model(noisy)
    assert np.asarray(output).dtype == np.float32 and output.shape == (1, 13, 17, 3)
    assert "float32" in str(output.dtype)


def test_weights_move_between_float32_and_bf16_models_with_close_outputs(tiny_kwargs, tmp_path):
    fp32 = build_denoiser(**tiny_kwargs, zero_init_output=False, dtype_policy="float32")
    path = str(tmp_path / "w.weights.h5")
    fp32.save_weights(path)
    bf16 = build_denoiser(**tiny_kwargs, zero_init_output=False, dtype_policy="mixed_bfloat16")
    bf16.load_weights(path)
    noisy = np.random.default_rng(1).uniform(0, 1, (2, 24, 24, 3)).astype(np.float32)
    a, b = np.asarray(fp32(noisy)), np.asarray(bf16(noisy))
    residual_a, residual_b = a - noisy, b - noisy
    assert not np.array_equal(a, b)  # bf16 really ran
    # bf16 has an 8-bit mantissa: the learned residual agrees to about 1%.
    assert np.abs(residual_a - residual_b).max() <= 0.02 * np.abs(residual_a).max() + 1e-3


def test_auto_policy_follows_the_cpu_flags(tmp_path, monkeypatch):
    with_bf16, without = tmp_path / "bf16", tmp_path / "plain"
    with_bf16.write_text("processor : 0\nflags : fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor : 0\nflags : fpu sse2 avx2\n")
    assert precision.cpu_has_bf16(str(with_bf16)) and not precision.cpu_has_bf16(str(without))
    assert not precision.cpu_has_bf16(str(tmp_path / "missing"))
    named = tmp_path / "named"
    named.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9454 48-Core Processor\nflags\t: fpu avx2\n")
    assert precision.cpu_model_name(str(named)) == "AMD EPYC 9454 48-Core Processor"
    assert precision.cpu_flags(str(named)) == {"fpu", "avx2"}
    assert precision.cpu_model_name(str(without)) is None
    monkeypatch.setattr(precision, "gpu_has_bf16", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.resolve_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.resolve_policy(None) == "float32"
    assert precision.resolve_policy("float32") == "float32"
    with pytest.raises(ValueError, match="dtype policy"):
        precision.resolve_policy("float16")
