import os
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np

from keras_semdenoise.deploy import export

path = sys.argv[1]
rng = np.random.default_rng(0)
a = rng.uniform(size=(321, 481, 3)).astype(np.float32)
b = np.ascontiguousarray(a.transpose(1, 0, 2))
fixed = export.TFLiteDenoiser(path)
alternating = export.TFLiteDenoiser(path)
fixed(a)
alternating(a)
alternating(b)
t_fixed, t_alt = [], []
print("load before", os.getloadavg())
for _ in range(7):
    t = time.perf_counter()
    fixed(a)
    fixed(a)
    t_fixed.append(time.perf_counter() - t)
    t = time.perf_counter()
    alternating(b)
    alternating(a)
    t_alt.append(time.perf_counter() - t)
print("load after", os.getloadavg())
print(
    f"same shape {np.median(t_fixed) / 2 * 1e3:.1f} ms/call, alternating {np.median(t_alt) / 2 * 1e3:.1f} ms/call, ratio {np.median(t_alt) / np.median(t_fixed):.3f}"
)
# cost of resize+allocate alone
it = alternating.interpreter
ts = []
for i in range(10):
    t = time.perf_counter()
    it.resize_tensor_input(alternating.input_index, [1, *(a.shape if i % 2 else b.shape)])
    it.allocate_tensors()
    ts.append(time.perf_counter() - t)
print(f"resize+allocate alone {np.median(ts) * 1e3:.2f} ms")
