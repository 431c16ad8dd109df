"""Which compute precision to run in: float32, or bf16 where the hardware has it.

``mixed_bfloat16`` is Keras's mixed policy: float32 weights, bfloat16 compute. The denoiser keeps
its padding, output conv, global skip and crop in float32 (``denoiser.FLOAT32``), and losses are
computed in float32, so only the inner convolutions run in bf16.

``"auto"`` picks ``mixed_bfloat16`` where bf16 is native: a CPU with AVX512_BF16 or AMX-BF16 (read
from ``/proc/cpuinfo``), or a GPU (JAX backend: any CUDA device; TensorFlow: compute capability 8.0 or
newer). Elsewhere it is ``float32``, because emulated bf16 is slower than float32.
"""

from __future__ import annotations

import os

POLICIES = ("float32", "mixed_bfloat16")
AUTO = "auto"
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_field(name: str, cpuinfo_path: str) -> str | None:
    """The value of the first ``name : value`` line in ``cpuinfo_path`` (None where absent)."""
    if not os.path.exists(cpuinfo_path):
        return None
    with open(cpuinfo_path) as handle:
        for line in handle:
            key, sep, value = line.partition(":")
            if sep and key.strip() == name:
                return value.strip()
    return None


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> set[str]:
    """The ``flags`` of the first processor in ``cpuinfo_path`` (empty where the file does not exist)."""
    return set((_cpuinfo_field("flags", cpuinfo_path) or "").split())


def cpu_model_name(cpuinfo_path: str = "/proc/cpuinfo") -> str | None:
    """The first processor's ``model name`` in ``cpuinfo_path``, e.g. "AMD EPYC" (None where not stated)."""
    return _cpuinfo_field("model name", cpuinfo_path) or None


def cpu_has_bf16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """True where the CPU computes bf16 natively (AVX512_BF16 or AMX-BF16)."""
    return bool(cpu_flags(cpuinfo_path) & set(_BF16_CPU_FLAGS))


def gpu_has_bf16() -> bool:
    """True where the current Keras backend sees a GPU with native bf16."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
            if tuple(capability) >= (8, 0):
                return True
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


def resolve_policy(name: str | None) -> str:
    """``"auto"``/None -> ``mixed_bfloat16`` where bf16 is native, else ``float32``; other names are checked.

    Raises:
        ValueError: a name that is not ``auto``, ``float32`` or ``mixed_bfloat16``.
    """
    if name in (None, AUTO):
        return "mixed_bfloat16" if (gpu_has_bf16() or cpu_has_bf16()) else "float32"
    if name not in POLICIES:
        raise ValueError(f"dtype policy must be auto, float32 or mixed_bfloat16, got {name!r}")
    return name
