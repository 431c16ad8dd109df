"""Run plumbing shared by every training run (separate, head and joint training).

A run lives in one folder and is organised in "epochs" of a fixed number of steps; its resumable state is
``<folder>/backup/`` (weights, optimizer and epoch, each replaced atomically), so a run killed at any point
restarts from its last completed epoch.
"""

from __future__ import annotations

import json
import logging
import math
import os

from keras_semdenoise import atomic, noise

logger = logging.getLogger(__name__)


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
        # Saves at epoch ends only, so its batch hook does nothing: safe for Keras to dispatch batch ends in a
        # thread. On JAX that keeps the training loop from waiting for each step's loss (the default
        # BackupAndRestore turns async dispatch off), so the next batch is drawn while the device runs.
        async_safe = True

        def _save_model(self):
            atomic.save_weights(self.model, self._weights_path)
            atomic.write_json(self._training_metadata_path, {"epoch": self._current_epoch, "batch": 0}, indent=2)

    return AtomicBackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False)


HISTORY = "history.json"
BEST_WEIGHTS = "best.weights.h5"


def load_history(model_dir: str) -> list[dict]:
    """The records ``history.json`` of a run holds so far (one per checkpoint; [] for a new run)."""
    path = os.path.join(model_dir, HISTORY)
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        history = json.load(handle)
    # Earlier versions of joint training wrote one dict of per-epoch loss lists at the end of a run, without
    # steps: nothing to resume a curve from.
    return history if isinstance(history, list) else []


def steps_per_second(history: list[dict]) -> float | None:
    """Training speed from a run's curve: steps over ``train_seconds`` of every checkpoint after the first
    (whose time holds the compilation); None with fewer than two checkpoints."""
    timed = [h for h in history if "train_seconds" in h]
    if len(timed) < 2:
        return None
    return (timed[-1]["step"] - timed[0]["step"]) / sum(h["train_seconds"] for h in timed[1:])


def best_record(history: list[dict], score: str) -> dict | None:
    """The record with the highest ``score`` (the first of equal scores, as ``history_callback`` keeps
    best.weights.h5); None when no record has it."""
    scored = [h for h in history if score in h]
    return max(scored, key=lambda h: h[score]) if scored else None


def load_best(model_dir: str, model, score: str) -> dict | None:
    """Loads ``<model_dir>/best.weights.h5`` (kept by ``history_callback``) into ``model`` and returns its
    record (``best_record``); None (``model`` untouched) when no record has ``score``."""
    best = best_record(load_history(model_dir), score)
    best_path = os.path.join(model_dir, BEST_WEIGHTS)
    if best is None or not os.path.exists(best_path):
        return None
    model.load_weights(best_path)
    return best


def history_callback(
    model_dir: str,
    interval: int,
    weights_model,
    evaluate=None,
    score: str | None = None,
    record_start: bool = False,
    on_record=None,
):
    """The callback keeping a run's curve: one record per checkpoint in ``<model_dir>/history.json``.

    A record is ``{"epoch", "step", "time", "train_seconds", <fit's logs>, <evaluate()>}``, written at once
    (atomically); the curve so far is read back when a run resumes, and a checkpoint redone after an
    interruption replaces its earlier record. With ``evaluate`` (a function of no arguments returning a dict
    of floats) and ``score`` (one of its keys, higher is better), ``weights_model``'s weights go to
    ``<model_dir>/best.weights.h5`` whenever the score beats every earlier checkpoint's (ties keep the
    earlier one). ``record_start`` also records step 0 (the starting weights, evaluated; only with
    ``evaluate``) when there is no curve yet. ``on_record(record, improved)`` is called after each record
    (log lines, summaries).
    """
    import time

    import keras

    history_path, best_path = os.path.join(model_dir, HISTORY), os.path.join(model_dir, BEST_WEIGHTS)

    class CheckpointHistory(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history = load_history(model_dir)
            self.epoch_start = time.time()

        def _record(self, record: dict) -> None:
            earlier = [h for h in self.history if h["step"] < record["step"]]
            improved = False
            if evaluate is not None:
                record.update(evaluate())
                if score is not None:
                    best = max((h[score] for h in earlier if score in h), default=None)
                    improved = best is None or record[score] > best
                    if improved:
                        atomic.save_weights(weights_model, best_path)
            self.history = earlier + [record]
            atomic.write_json(history_path, self.history, indent=2)
            if on_record is not None:
                on_record(record, improved)

        def on_train_begin(self, logs=None):
            if record_start and evaluate is not None and not self.history:
                self._record({"epoch": 0, "step": 0, "time": time.time()})

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.time()

        def on_epoch_end(self, epoch, logs=None):
            record = {
                "epoch": epoch + 1,
                "step": (epoch + 1) * interval,
                "time": time.time(),
                "train_seconds": time.time() - self.epoch_start,
            }
            self._record({**record, **{name: float(value) for name, value in (logs or {}).items()}})

    return CheckpointHistory()


def evaluation_sigmas(config: dict) -> tuple[float, ...]:
    """The noise levels a run's checkpoints are evaluated at, from its saved ``config.json`` (or
    ``dataclasses.asdict`` of a ``TrainConfig``): ``eval_sigmas``, else ``eval_sigma``, else ``sigma``, else
    the default level; its ``eval_psnr`` is the mean PSNR over them."""
    levels = tuple(float(s) for s in config.get("eval_sigmas") or ())
    return levels or (float(config.get("eval_sigma") or config.get("sigma") or noise.DEFAULT_SIGMA_255),)


def describe_sigmas(levels: tuple[float, ...]) -> str:
    """``"sigma 25"`` or ``"mean over sigma 15, 25, 50"``."""
    joined = ", ".join(f"{level:g}" for level in levels)
    return f"sigma {joined}" if len(levels) == 1 else f"mean over sigma {joined}"


def validation_history(config, trained, evaluate, metric: str, details, record_start: bool = False):
    """``history_callback`` of a task run (head or joint training, ``config`` with ``model_dir``, ``steps``,
    ``checkpoint_every``): with ``evaluate`` (None where there is no validation split) every checkpoint is
    validated and the best by ``metric`` (``"val_top1"`` or ``"val_miou"``) kept in ``best.weights.h5``, each
    logged as ``step N: validation top1 71.20%<details(record)>``; ``record_start`` validates step 0 too."""

    def log(record: dict, improved: bool) -> None:
        if metric in record:
            name, value, best = metric[len("val_") :], record[metric], ": best so far" if improved else ""
            logger.info("step %d: validation %s %.2f%%%s%s", record["step"], name, value, details(record), best)

    return history_callback(
        config.model_dir,
        fit_intervals(config.steps, config.checkpoint_every)[1],
        trained,
        evaluate=evaluate,
        score=metric if evaluate else None,
        record_start=record_start and evaluate is not None,
        on_record=log,
    )


def ship_best(config, trained, model, metric: str, details) -> dict | None:
    """Copies the last weights of ``trained`` (the network being trained) into ``model`` (its float32 twin),
    then the best checkpoint by ``metric`` where validation kept one in ``config.model_dir``; logs which
    (``details(best)`` adds to the line). Returns the best checkpoint's record, or None."""
    from keras_semdenoise.deploy import graph_transforms

    graph_transforms.copy_weights(trained, model)
    best = load_best(config.model_dir, model, metric)
    if best is None:
        logger.info("shipping the last weights (no validation split)")
    else:
        name, value = metric[len("val_") :], best[metric]
        logger.info(
            "shipping the best checkpoint by validation: step %d (%s %.2f%%%s)",
            best["step"],
            name,
            value,
            details(best),
        )
    return best
