"""This CPU's peak arithmetic rate per precision: nominal (from /proc/cpuinfo) and measured (a large matmul).

Nominal peak = cores x clock x operations per cycle per core, where an operation is one multiply or one add
(an FMA counts 2) and the per-cycle figure comes from the detected core (``OPS_PER_CYCLE``). The clock is the
one /proc/cpuinfo reports (in a VM often the base clock): cores that boost run above it, so a measured rate
above the nominal one says the cores ran faster than that clock, not that the table is wrong. Measured peak =
the best a library reaches on this machine on one large matrix product: fp32 and bf16 with TensorFlow's
``tf.linalg.matmul`` (oneDNN), int8 with a LiteRT fully-connected int8 model (XNNPACK, the path our int8
export runs on). Each measured figure is the median of ``repeats`` runs, with min and max.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

PRECISIONS = ("fp32", "bf16", "int8")

# Operations per cycle per core (multiply and add counted separately) by core, with the reason.
OPS_PER_CYCLE = {
    # Zen 4 runs AVX-512 on 256-bit datapaths (two halves): 2 FMA pipes x 8 fp32 lanes x 2 = 32;
    # VDPBF16PS does 2 bf16 products per fp32 lane: 64; VPDPBUSD 4 int8 products per 32-bit lane: 128.
    "AMD Zen 4": {"fp32": 32, "bf16": 64, "int8": 128},
    # Zen 5 (desktop/server with the full 512-bit datapath).
    "AMD Zen 5": {"fp32": 64, "bf16": 128, "int8": 256},
    "AMD Zen 2/3": {"fp32": 32, "bf16": 32, "int8": 64},
    # Intel server cores with two 512-bit FMA units (Skylake-SP and later; bf16/VNNI where flagged).
    "Intel AVX-512": {"fp32": 64, "bf16": 64, "int8": 128},
    "Intel AVX-512 + BF16/VNNI": {"fp32": 64, "bf16": 128, "int8": 256},
    "AVX2 + FMA": {"fp32": 32, "bf16": 32, "int8": 64},
    "generic": {"fp32": 8, "bf16": 8, "int8": 16},
}


def cpu_info(text: str | None = None) -> dict:
    """``{"model", "vendor", "family", "cores", "ghz", "flags"}`` from /proc/cpuinfo (or ``text``)."""
    if text is None:
        text = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    return {
        "model": fields.get("model name", "unknown CPU"),
        "vendor": fields.get("vendor_id", ""),
        "family": int(fields.get("cpu family", "0") or 0),
        "cores": os.cpu_count() or 1,
        "ghz": (max(mhz) if mhz else 2000.0) / 1000.0,
        "flags": set(fields.get("flags", "").split()),
    }


def core_kind(info: dict) -> str:
    """The ``OPS_PER_CYCLE`` key for this core (AMD family 0x19 with AVX-512 is Zen 4, 0x1A is Zen 5)."""
    flags = info["flags"]
    if info["vendor"] == "AuthenticAMD":
        if info["family"] == 0x1A:
            return "AMD Zen 5"
        if info["family"] == 0x19:
            return "AMD Zen 4" if "avx512f" in flags else "AMD Zen 2/3"
        if info["family"] == 0x17:
            return "AMD Zen 2/3"
    if "avx512f" in flags:
        return "Intel AVX-512 + BF16/VNNI" if {"avx512_bf16", "avx512_vnni"} <= flags else "Intel AVX-512"
    if {"avx2", "fma"} <= flags:
        return "AVX2 + FMA"
    return "generic"


def nominal_peaks(info: dict | None = None) -> dict:
    """``{"kind", "text", precision: GOPS}``: cores x GHz x ``OPS_PER_CYCLE[kind]``."""
    info = info or cpu_info()
    kind = core_kind(info)
    peaks = {p: info["cores"] * info["ghz"] * OPS_PER_CYCLE[kind][p] for p in PRECISIONS}
    per_cycle = ", ".join(f"{p} {OPS_PER_CYCLE[kind][p]}" for p in PRECISIONS)
    return {
        "kind": kind,
        **peaks,
        "text": f"{info['model']} ({kind}), {info['cores']} cores at {info['ghz']:.2f} GHz (cpuinfo), "
        f"operations per cycle per core: {per_cycle}",
    }


def _median_of(run, repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return {"median": float(np.median(seconds)), "min": float(np.min(seconds)), "max": float(np.max(seconds))}


def _as_rate(ops: float, seconds: dict) -> dict:
    """Seconds (median/min/max) -> GOPS (median, and the min/max the fastest/slowest run gives)."""
    return {
        "median": ops / seconds["median"] / 1e9,
        "min": ops / seconds["max"] / 1e9,
        "max": ops / seconds["min"] / 1e9,
    }


def matmul_tf(dtype: str, size: int = 2048, repeats: int = 5, inner: int = 4) -> dict:
    """GOPS of ``inner`` chained (size x size) @ (size x size) products in TensorFlow, fp32 or bf16.

    ``b`` is scaled by 1/sqrt(size), so the chain's values stay of order 1 in either precision.
    """
    import tensorflow as tf

    tf_dtype = {"fp32": tf.float32, "bf16": tf.bfloat16}[dtype]
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size)).astype(np.float32) / np.sqrt(size), dtype=tf_dtype)
    b = tf.constant(rng.standard_normal((size, size)).astype(np.float32) / np.sqrt(size), dtype=tf_dtype)

    @tf.function
    def chain(x):
        # A dependent chain: identical independent products would be merged by the graph optimiser.
        for _ in range(inner):
            x = tf.linalg.matmul(x, b)
        return x

    for _ in range(3):  # tracing, oneDNN's kernel choice and weight reorders
        chain(a).numpy()
    seconds = _median_of(lambda: chain(a).numpy(), repeats)
    return _as_rate(2.0 * size**3 * inner, seconds)


def matmul_tflite_int8(size: int = 2048, rows: int = 512, repeats: int = 5, threads: int | None = None) -> dict:
    """GOPS of a full-integer int8 LiteRT fully-connected layer, (rows x size) @ (size x size)."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    threads = threads or os.cpu_count() or 1
    rng = np.random.default_rng(0)
    inputs = keras.Input((size,), batch_size=rows)
    model = keras.Model(inputs, keras.layers.Dense(size, use_bias=False)(inputs))
    samples = [rng.standard_normal((rows, size)).astype(np.float32) for _ in range(2)]
    with tempfile.TemporaryDirectory() as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda x: model(x), [tf.TensorSpec([rows, size], tf.float32)])
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["serve"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        flatbuffer = converter.convert()
    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, rng.integers(-128, 127, (rows, size), dtype=np.int8))
    interpreter.invoke()
    seconds = _median_of(interpreter.invoke, repeats)
    return _as_rate(2.0 * rows * size * size, seconds)


def measured_peaks(repeats: int = 5) -> dict:
    """``{precision: {"median", "min", "max"} GOPS, "how": {precision: text}}`` on this machine."""
    fp32, bf16 = matmul_tf("fp32", repeats=repeats), matmul_tf("bf16", repeats=repeats)
    time.sleep(2.0)  # TensorFlow's worker threads spin for a while after work and would compete with XNNPACK's
    return {
        "fp32": fp32,
        "bf16": bf16,
        "int8": matmul_tflite_int8(repeats=repeats),
        "how": {
            "fp32": "tf.linalg.matmul 2048x2048 fp32 (oneDNN)",
            "bf16": "tf.linalg.matmul 2048x2048 bf16 (oneDNN)",
            "int8": "LiteRT int8 fully-connected 512x2048 @ 2048x2048 (XNNPACK)",
        },
    }
