"""Time of one training step of a DeepLab-LargeFOV head on this machine (the measurement in HEADS.md).

    python experiments/reproduce/results_reduced/head_step_time.py float32 2 320
    python experiments/reproduce/results_reduced/head_step_time.py mixed_bfloat16 2 320

Arguments: Keras dtype policy, VGG16 width divisor, crop side. A batch of 16 random crops, 11 CamVid classes
plus void; prints the median of 4 steps after 2 warm-up steps.
"""

import sys
import time

import keras
import numpy as np

import keras_semdenoise  # noqa: F401 - registers the package's Keras objects
from keras_semdenoise.models.heads.deeplab import build_deeplab_largefov
from keras_semdenoise.models.heads.vgg16 import VGG16Trunk
from keras_semdenoise.training import losses

policy, divisor, crop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keras.config.set_dtype_policy(policy)
head = build_deeplab_largefov(11, trunk=VGG16Trunk(width_divisor=divisor, batch_norm=True), fc_units=1024 // divisor)
head.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses.SegmentationCrossEntropy(11), jit_compile=False)
rng = np.random.default_rng(0)
x = rng.random((16, crop, crop, 3), dtype=np.float32)
y = rng.integers(0, 12, (16, crop, crop)).astype(np.int32)
for _ in range(2):
    head.train_on_batch(x, y)
times = []
for _ in range(4):
    start = time.perf_counter()
    head.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
print(
    f"{policy} widths/{divisor} crop {crop}: median step {np.median(times):.2f} s, {head.count_params():,} parameters"
)
