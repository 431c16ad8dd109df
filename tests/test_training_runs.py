"""runs.history_callback: the one curve keeper of separate and joint training."""

import json
import os

import keras
import numpy as np
import pytest

from keras_semdenoise.training import runs


def _model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


def _drive(callback, model, epochs: list[int], start: bool = True):
    callback.set_model(model)
    if start:
        callback.on_train_begin()
    for epoch in epochs:
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": np.float32(0.5)})


def test_records_best_weights_ties_and_redone_checkpoints(tmp_path):
    model, scores, logged = _model(), iter([1.0, 3.0, 3.0, 2.0, 5.0]), []
    callback = runs.history_callback(
        str(tmp_path),
        10,
        model,
        evaluate=lambda: {"score": next(scores)},
        score="score",
        record_start=True,
        on_record=lambda record, improved: logged.append((record["step"], improved)),
    )
    _drive(callback, model, [0, 1, 2])
    history = json.loads((tmp_path / runs.HISTORY).read_text())
    assert [h["step"] for h in history] == [0, 10, 20, 30]
    assert [h["score"] for h in history] == [1.0, 3.0, 3.0, 2.0]
    assert history[1]["loss"] == 0.5 and "train_seconds" in history[1]
    assert logged == [(0, True), (10, True), (20, False), (30, False)]  # a tie keeps the earlier checkpoint
    assert os.path.exists(tmp_path / runs.BEST_WEIGHTS)
    assert runs.load_best(str(tmp_path), _model(), "score")["step"] == 10  # the first of the equal best
    assert runs.load_best(str(tmp_path), _model(), "other") is None

    # Resumed after an interruption: the curve is read back (no second step 0) and a redone checkpoint
    # replaces its record and every later one.
    resumed = runs.history_callback(
        str(tmp_path), 10, model, evaluate=lambda: {"score": next(scores)}, score="score", record_start=True
    )
    _drive(resumed, model, [1])
    assert [(h["step"], h["score"]) for h in runs.load_history(str(tmp_path))] == [(0, 1.0), (10, 3.0), (20, 5.0)]


def test_without_evaluation_only_the_curve(tmp_path):
    model = _model()
    _drive(runs.history_callback(str(tmp_path), 5, model, record_start=True), model, [0, 1])
    assert [h["step"] for h in runs.load_history(str(tmp_path))] == [5, 10]  # nothing to evaluate at step 0
    assert not os.path.exists(tmp_path / runs.BEST_WEIGHTS)


def test_old_history_format_is_no_curve(tmp_path):
    (tmp_path / runs.HISTORY).write_text(json.dumps({"loss": [1.0, 0.5]}))
    assert runs.load_history(str(tmp_path)) == []


def test_the_best_record_is_the_first_of_the_highest_scores():
    history = [{"step": 1}, {"step": 2, "score": 3.0}, {"step": 3, "score": 5.0}, {"step": 4, "score": 5.0}]
    assert runs.best_record(history, "score")["step"] == 3
    assert runs.best_record(history[:1], "score") is None and runs.best_record([], "score") is None


def test_the_training_callbacks_leave_batch_ends_free_for_async_dispatch(tmp_path):
    # On JAX, Keras dispatches batch ends in a thread (so the loop need not wait for each step's loss) only
    # when every callback keeps the default batch hooks or says it is async-safe.
    model, base = _model(), keras.callbacks.Callback
    backup = runs.backup_callback(str(tmp_path / "backup"))
    history = runs.history_callback(str(tmp_path / "run"), 10, model)
    for callback in (backup, history):
        assert getattr(callback, "async_safe", False) or all(
            getattr(type(callback), hook) is getattr(base, hook) for hook in ("on_batch_end", "on_train_batch_end")
        )
    # The backup's claim: its batch hook saves nothing (it saves at epoch ends).
    backup.set_model(model)
    backup.on_train_begin()
    for batch in range(3):
        backup.on_train_batch_end(batch)
    assert not os.path.exists(tmp_path / "backup") or not os.listdir(tmp_path / "backup")
    backup.on_epoch_end(0)
    assert os.listdir(tmp_path / "backup")


def test_speed_comes_from_the_checkpoints_after_the_first():
    history = [
        {"step": 50, "train_seconds": 60.0},
        {"step": 100, "train_seconds": 2.5},
        {"step": 150, "train_seconds": 2.5},
    ]
    assert runs.steps_per_second(history) == pytest.approx(100 / 5.0)  # the first (compilation) left out
    assert runs.steps_per_second(history[:1]) is None
    assert runs.steps_per_second([{"step": 0, "eval_psnr": 30.0}, *history]) == pytest.approx(20.0)
