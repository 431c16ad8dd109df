"""One worker of a two-worker MultiWorkerMirroredStrategy joint-training run on 127.0.0.1.

    python tests/multiworker_script.py INDEX PORT0 PORT1

Prints the per-step losses and a checksum of the denoiser weights; both workers must agree.
"""

import json
import os
import sys

index, ports = int(sys.argv[1]), sys.argv[2:4]
os.environ["TF_CONFIG"] = json.dumps(
    {
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    }
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402

from keras_semdenoise.models.denoiser import build_denoiser  # noqa: E402
from keras_semdenoise.models.heads import VGG16Trunk, build_vgg16_classifier  # noqa: E402
from keras_semdenoise.training.cascade import CascadeTrainer, distributed_train_loop  # noqa: E402

keras.utils.set_random_seed(0)
rng = np.random.default_rng(index)  # each worker feeds its own half of the global batch
clean = rng.uniform(size=(4, 16, 16, 3)).astype("float32")
noisy = clean + rng.normal(0, 0.1, clean.shape).astype("float32")
labels = rng.integers(0, 3, 4)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
dataset = tf.data.Dataset.from_tensors(((noisy, clean), labels)).repeat().with_options(options)
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
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
losses = distributed_train_loop(strategy, trainer, dataset, steps=3)
checksum = float(sum(np.abs(np.asarray(w)).sum() for w in denoiser.weights))
print(json.dumps({"workers": strategy.num_replicas_in_sync, "losses": losses, "checksum": checksum}))
