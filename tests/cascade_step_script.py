"""Runs one joint-training step of a tiny cascade on N logical CPU replicas and saves the denoiser.

    python tests/cascade_step_script.py REPLICAS OUT.npz [fit|loop]

Used by test_training_cascade.py: one step on 1 and on 2 replicas must give the same update.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

replicas, out, mode = int(sys.argv[1]), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "fit")
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)

import keras  # noqa: E402

from keras_semdenoise.models.denoiser import build_denoiser  # noqa: E402
from keras_semdenoise.models.heads import VGG16Trunk, build_vgg16_classifier  # noqa: E402
from keras_semdenoise.training.cascade import CascadeTrainer, distributed_train_loop  # noqa: E402

devices = [d.name for d in tf.config.list_logical_devices("CPU")]
strategy = tf.distribute.MirroredStrategy(devices=devices) if replicas > 1 else tf.distribute.get_strategy()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
clean = rng.uniform(size=(4, 16, 16, 3)).astype("float32")
noisy = clean + rng.normal(0, 0.1, clean.shape).astype("float32")
labels = np.array([0, 1, 2, 1])
dataset = tf.data.Dataset.from_tensors(((noisy, clean), labels)).repeat()
with strategy.scope():
    denoiser = build_denoiser(
        stem_filters=8,
        encoder_filters=(8, 8),
        decoder_filters=(16,),
        zero_init_output=False,
        synchronized_batchnorm=True,
    )
    head = build_vgg16_classifier(
        3, trunk=VGG16Trunk(input_shape=(16, 16, 3), width_divisor=16), top="gap", hidden_units=8
    )
    trainer = CascadeTrainer(denoiser, head, "classification")
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
if mode == "fit":
    trainer.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)
else:
    distributed_train_loop(strategy, trainer, dataset, steps=1)
np.savez(out, *[np.asarray(w) for w in denoiser.weights])
print(f"replicas={strategy.num_replicas_in_sync}")
