"""One joint-training step of a saved tiny cascade under the backend in ``KERAS_BACKEND``.

    KERAS_BACKEND=jax python tests/cascade_backend_script.py DIR SCALE

Reads ``DIR/denoiser.keras``, ``DIR/head.keras`` and ``DIR/batch.npz`` (noisy, clean, labels), runs one
SGD step of ``CascadeTrainer`` with the ``SCALE`` loss (paper | official) and writes the updated denoiser's
weights to ``DIR/<backend>_<scale>.npz``. Used by test_training_cascade.py to compare the TensorFlow and JAX steps.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_semdenoise  # noqa: E402,F401 - registers the custom objects
from keras_semdenoise.training import losses  # noqa: E402
from keras_semdenoise.training.cascade import CascadeTrainer  # noqa: E402

folder, scale = sys.argv[1], sys.argv[2]
batch = np.load(os.path.join(folder, "batch.npz"))
denoiser = keras.saving.load_model(os.path.join(folder, "denoiser.keras"), compile=False)
head = keras.saving.load_model(os.path.join(folder, "head.keras"), compile=False)
trainer = CascadeTrainer(denoiser, head, "classification", losses.JointLossWeights.for_scale("classification", scale))
trainer.compile(optimizer=keras.optimizers.SGD(0.1 if scale == "paper" else 1e-3))
logs = trainer.fit(
    x=(batch["noisy"], batch["clean"]),
    y=batch["labels"],
    batch_size=len(batch["labels"]),
    epochs=1,
    shuffle=False,
    verbose=0,
).history
np.savez(os.path.join(folder, f"{keras.backend.backend()}_{scale}.npz"), *[np.asarray(w) for w in denoiser.weights])
print(keras.backend.backend(), {k: float(v[-1]) for k, v in logs.items()})
