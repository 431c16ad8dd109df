"""Alternating A/B timing: each round calls every method once (after warm-up); medians of seconds per call."""

import os
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np


def tflite(path, threads, shape, **kw):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, num_threads=threads, **kw)
    i = it.get_input_details()[0]["index"]
    o = it.get_output_details()[0]["index"]
    if list(it.get_input_details()[0]["shape"]) != [1, *shape]:
        it.resize_tensor_input(i, [1, *shape])
    it.allocate_tensors()

    def run(x):
        it.set_tensor(i, x[None])
        it.invoke()
        return it.get_tensor(o)[0]

    return run


def keras_fn(precision):
    import tensorflow as tf

    from keras_semdenoise.deploy import inference

    m = inference.load_denoiser("saved_models/denoiser_sigma25.keras", precision=precision)
    f = tf.function(lambda x: m(x, training=False), jit_compile=False)
    return lambda x: f(x[None])[0].numpy()


def measure(methods, x, rounds=7):
    for f in methods.values():
        f(x)
    times = {k: [] for k in methods}
    for _ in range(rounds):
        for k, f in methods.items():
            t = time.perf_counter()
            f(x)
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


if __name__ == "__main__":
    size = int(sys.argv[1])
    x = np.random.default_rng(0).uniform(size=(size, size, 3)).astype(np.float32)
    methods = {}
    for spec in sys.argv[2:]:
        name, _, arg = spec.partition("=")
        if name.startswith("keras"):
            methods[name] = keras_fn(arg)
        else:
            path, threads = arg.rsplit(":", 1)
            methods[name] = tflite(path, int(threads), (size, size, 3))
    print("uptime before:", os.getloadavg())
    result = measure(methods, x)
    print("uptime after:", os.getloadavg())
    base = result.get("keras_bf16") or next(iter(result.values()))
    for k, v in result.items():
        print(
            f"{k:24s} {v * 1e3:9.1f} ms/call {v / (size * size / 1e6):7.2f} s/MP  x{v / base:5.2f} vs {'keras_bf16' if 'keras_bf16' in result else 'first'}"
        )
