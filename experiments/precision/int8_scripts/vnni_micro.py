"""Pure conv stack, fp32 vs int8 TFLite (XNNPACK), 1 and 2 threads: is the int8 GEMM VNNI-fast here?"""

import os
import tempfile
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter


def build(kind):
    x = inp = keras.Input((64, 64, 128), batch_size=1)
    for _ in range(4):
        x = keras.layers.Conv2D(128, 3 if kind == "conv3x3" else 1, padding="same", activation="relu")(x)
    return keras.Model(inp, x)


def convert(model, int8):
    with tempfile.TemporaryDirectory() as d:
        model.export(d, format="tf_saved_model", verbose=False)
        c = tf.lite.TFLiteConverter.from_saved_model(d)
        if int8:
            rng = np.random.default_rng(0)
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.representative_dataset = lambda: (
                [rng.uniform(size=(1, 64, 64, 128)).astype("float32")] for _ in range(4)
            )
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            c.inference_input_type = tf.int8
            c.inference_output_type = tf.int8
        return c.convert()


runners = {}
for kind in ("conv3x3", "conv1x1"):
    m = build(kind)
    for prec in ("fp32", "int8"):
        fb = convert(m, prec == "int8")
        for threads in (1, 2):
            it = Interpreter(model_content=fb, num_threads=threads)
            it.allocate_tensors()
            d = it.get_input_details()[0]
            x = np.zeros(d["shape"], d["dtype"])

            def run(it=it, d=d, x=x):
                it.set_tensor(d["index"], x)
                it.invoke()

            runners[(kind, prec, threads)] = run
macs = {"conv3x3": 4 * 64 * 64 * 128 * 128 * 9, "conv1x1": 4 * 64 * 64 * 128 * 128}
for r in runners.values():
    r()
times = {k: [] for k in runners}
print("load before", os.getloadavg())
for _ in range(9):
    for k, r in runners.items():
        t = time.perf_counter()
        r()
        times[k].append(time.perf_counter() - t)
print("load after", os.getloadavg())
med = {k: np.median(v) for k, v in times.items()}
for (kind, prec, threads), t in med.items():
    print(
        f"{kind} {prec} {threads}t: {t * 1e3:7.2f} ms  {2 * macs[kind] / t / 1e9:6.1f} GOP/s  fp32/int8 = {med[(kind, 'fp32', threads)] / med[(kind, 'int8', threads)]:.2f}"
    )
