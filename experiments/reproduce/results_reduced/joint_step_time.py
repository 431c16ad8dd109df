"""Time of one joint-training step (denoiser -> frozen head) on this machine, float32 or mixed_bfloat16
(the measurement in the README's joint-training section).

    python experiments/reproduce/results_reduced/joint_step_time.py float32 segmentation
    python experiments/reproduce/results_reduced/joint_step_time.py mixed_bfloat16 segmentation

Arguments: Keras dtype policy, task. The shipped sigma-50 denoiser and the shipped head of the task
(experiments/reproduce/models_reduced/), the paper's loss weights; CamVid: a batch of 8 160x160 crops, CIFAR-10: 64 32x32
images, random data. Prints the median of the last 4 of 7 steps and the loss terms of the last one.
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_semdenoise  # noqa: F401 - registers the package's Keras objects
from keras_semdenoise.deploy import graph_transforms, inference
from keras_semdenoise.models.heads import load_head
from keras_semdenoise.training import losses
from keras_semdenoise.training.cascade import CascadeTrainer

policy, task = sys.argv[1], sys.argv[2]
segmentation = task == "segmentation"
denoiser = inference.load_denoiser("saved_models/denoiser_sigma50.keras")
head = load_head(f"experiments/reproduce/models_reduced/head_{'seg' if segmentation else 'cls'}.keras")
if policy != "float32":
    denoiser = graph_transforms.with_dtype_policy(denoiser, policy)
    head = graph_transforms.with_dtype_policy(head, policy)
trainer = CascadeTrainer(denoiser, head, task, losses.JointLossWeights.paper(task), 11 if segmentation else None)
trainer.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=False)
rng = np.random.default_rng(0)
n, size = (8, 160) if segmentation else (64, 32)
labels = rng.integers(0, 12, (n, size, size)) if segmentation else rng.integers(0, 10, (n,))
clean = rng.random((n, size, size, 3), dtype=np.float32)
noisy = clean + rng.normal(0, 0.2, clean.shape).astype(np.float32)
batches = tf.data.Dataset.from_tensors(((noisy, clean), labels.astype(np.int32))).repeat()


class Timer(keras.callbacks.Callback):
    times, logs = [], {}

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)
        self.logs = logs


timer = Timer()
trainer.fit(batches, steps_per_epoch=7, epochs=1, verbose=0, callbacks=[timer])
print(
    f"{policy} {task}: median step {np.median(timer.times[3:]):.2f} s;",
    {name: round(float(value), 4) for name, value in timer.logs.items()},
)
