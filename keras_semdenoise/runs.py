"""Run plumbing shared by every training run (separate, head and joint training).

A run lives in one folder and is organised in "epochs" of a fixed number of steps; its resumable state is
``<folder>/backup/`` (weights, optimizer and epoch, each replaced atomically), so a run killed at any point
restarts from its last completed epoch.
"""

from __future__ import annotations

import json
import math
import os

from keras_semdenoise import atomic


def make_strategy(name: str, logical_cpus: int = 0):
    """A ``tf.distribute`` strategy: Mirrored over all GPUs (or logical CPUs) when there are several.

    ``logical_cpus`` > 1 splits the CPU into that many logical devices first (must run before
    TensorFlow initialises its devices); that is how the mirrored path is tested without GPUs.
    """
    import tensorflow as tf

    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if name == "default" or (name == "auto" and len(devices) < 2):
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=devices)


def backend_strategy(name: str, logical_cpus: int = 0):
    """``make_strategy`` on the TensorFlow backend; None on the others (JAX runs on one device here)."""
    import keras

    return make_strategy(name, logical_cpus) if keras.backend.backend() == "tensorflow" else None


def strategy_scope(strategy):
    """``strategy.scope()``, or a do-nothing context for None (``backend_strategy`` off TensorFlow)."""
    import contextlib

    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def has_tensorflow() -> bool:
    """Whether TensorFlow is installed (TensorBoard logs need it; other Keras backends may run without)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def fit_intervals(steps: int, checkpoint_every: int) -> tuple[int, int]:
    """``(epochs, steps_per_epoch)`` for a ``fit`` of ``steps`` steps checkpointed every ``checkpoint_every``.

    Fewer steps than one interval run as one short epoch; otherwise whole intervals (rounded up).
    """
    interval = min(checkpoint_every, steps)
    return math.ceil(steps / interval), interval


def resume_epoch(model_dir: str) -> int:
    """The epoch a run in ``model_dir`` resumes from (0 for a new run)."""
    path = os.path.join(model_dir, "backup", "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return int(json.load(handle)["epoch"])


def backup_callback(backup_dir: str):
    """``keras.callbacks.BackupAndRestore`` at every epoch whose weights (optimizer state included)
    and epoch number are each replaced atomically, so a kill at any moment leaves a loadable state."""
    import keras

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            atomic.save_weights(self.model, self._weights_path)
            atomic.write_json(self._training_metadata_path, {"epoch": self._current_epoch, "batch": 0}, indent=2)

    return AtomicBackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False)
