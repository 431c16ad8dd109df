"""Shipping a training run: its weights become a standalone ``.keras`` file in the shipped models' folder
(``keras_semdenoise.models.shipped``), with its record in ``MODELS.json`` and its history beside it."""

from __future__ import annotations

import json
import os

from keras_semdenoise import atomic
from keras_semdenoise.training import runs


def export_shipped_model(model_dir: str, out_path: str, use_best: bool = True) -> str:
    """Writes a run's best (or final) weights as a standalone ``.keras`` model at ``out_path``; returns the
    weights file used. The file holds the network alone (uncompiled: no optimizer state), whichever weights
    it came from: ``best.weights.h5``, ``final.weights.h5`` or, for a run that never finished, the backup."""
    from keras_semdenoise.training.separate import TrainConfig, build_model
    from keras_semdenoise.training.separate_fit import make_optimizer

    with open(os.path.join(model_dir, "config.json")) as handle:
        config = TrainConfig.from_saved(json.load(handle))
    model = build_model(config)
    best = os.path.join(model_dir, "best.weights.h5")
    weights = best if use_best and os.path.exists(best) else os.path.join(model_dir, "final.weights.h5")
    if os.path.exists(weights):
        model.load_weights(weights)
    else:
        # The backup holds the optimizer's variables too: load it into a compiled copy, ship the network.
        weights = os.path.join(model_dir, "backup", "latest.weights.h5")
        trained = build_model(config)
        trained.compile(optimizer=make_optimizer(config), loss="mse")
        trained.optimizer.build(trained.trainable_variables)
        trained.load_weights(weights)
        model.set_weights(trained.get_weights())
    atomic.save_model(model, out_path)
    return weights


def data_description(data_dir: str) -> str:
    """``"CBSD432:0.71,T91:0.15"``-style short form of a ``data_dir`` spec (folder names and weights)."""
    from keras_semdenoise.data import patches

    parts = []
    for source in patches.parse_sources(data_dir) if data_dir else []:
        name = os.path.basename(source.path.rstrip("/")) or source.path
        if source.packed:  # the same images, packed to travel (tools/pack_images.py): "CBSD432 (packed)"
            name = f"{name.removesuffix('.npz')} (packed)"
        parts.append(name if source.weight == 1.0 else f"{name}:{source.weight:g}")
    return ",".join(parts)


def _train_seconds(history: list, step) -> float | None:
    timed = [h for h in history if h.get("step", 0) and (step is None or h["step"] <= step)]
    if not timed or any("train_seconds" not in h for h in timed):
        return None
    return round(sum(h["train_seconds"] for h in timed), 1)


def _eval_description(config: dict) -> str:
    from keras_semdenoise.training.runs import describe_sigmas, evaluation_sigmas

    if config.get("eval_dir"):
        where = f"first {config.get('eval_images')} images of {os.path.basename(str(config['eval_dir']))}"
    else:
        where = f"{config.get('eval_images')} held-out CBSD432 validation images"
    return f"{where}, {describe_sigmas(evaluation_sigmas(config))}"


def run_record(model_dir: str) -> dict:
    """``{"config", "history"}`` of a run folder: what is kept of a run once its folder (scratch) is gone.

    Written beside a shipped model as ``<name>.history.json``, and for runs that only measure something
    (``experiments/zoo/keep_runs.py``) under ``experiments/zoo/records/``; ``curves.load_curve`` reads either.
    """
    with open(os.path.join(model_dir, "config.json")) as handle:
        config = json.load(handle)
    history = []
    if os.path.exists(os.path.join(model_dir, "history.json")):
        with open(os.path.join(model_dir, "history.json")) as handle:
            history = json.load(handle)
    return {"config": config, "history": history}


def _kept_record(path: str) -> dict | None:
    """A kept ``{"config", "history", ...}`` record (``run_record``), or None (no file, or an early bare list)."""
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        kept = json.load(handle)
    return kept if isinstance(kept, dict) else None


def _same_run(kept: dict | None, record: dict) -> bool:
    """Whether a kept record is of the run of ``record`` (``run_record``): the same configuration and first history
    record (step 0 and its time)."""
    return (
        kept is not None
        and bool(record["history"])
        and kept.get("config") == record["config"]
        and (kept.get("history") or [None])[0] == record["history"][0]
    )


def _shipped_from(out_dir: str, entry: dict | None, record: dict) -> bool:
    """Whether a MODELS.json ``entry`` was shipped from the run of ``record`` (``run_record``)."""
    return bool(entry and entry.get("history")) and _same_run(
        _kept_record(os.path.join(out_dir, entry["history"])), record
    )


def _parent_name(config: dict) -> str:
    """The shipped model a run started from (``init_weights`` = ``.../<name>.keras``), or ``""``."""
    return os.path.splitext(os.path.basename(config.get("init_weights") or ""))[0]


def _run_name(record: dict) -> str:
    """The run folder's name of a kept record (``run_record``), e.g. ``sigma25_gpu1``."""
    return os.path.basename(os.path.normpath((record.get("config") or {}).get("model_dir") or ""))


def previous_record(out_dir: str, name: str, record: dict, archive_dir: str | None) -> str | None:
    """Where the record of the model a run started from is kept (``experiments/zoo/records/<its run>.history.json``),
    copying it there from ``out_dir`` if it is not yet; ``None`` without ``archive_dir`` or when the run
    started from no shipped model. Shipping the same run again keeps the link it had."""
    kept = _kept_record(os.path.join(out_dir, f"{name}.history.json"))
    if _same_run(kept, record):
        return kept.get("previous")
    parent = _parent_name(record["config"])
    parent_path = os.path.join(out_dir, f"{parent}.history.json")
    parent_record = _kept_record(parent_path) if parent and archive_dir is not None else None
    if parent_record is None or not _run_name(parent_record):
        return None
    target = os.path.join(archive_dir, f"{_run_name(parent_record)}.history.json")
    if not os.path.exists(target):
        atomic.copy_file(parent_path, target)
    return target


def ship_run(
    model_dir: str, out_dir: str, name: str, hardware: str, use_best: bool = True, archive_dir: str | None = None
) -> dict:
    """Ships a run as ``out_dir/<name>.keras`` and records it in ``out_dir/MODELS.json``.

    The run's configuration and learning curve are kept beside the model as
    ``<name>.history.json`` (run folders are scratch; the curve is the record of
    how the model was made). A run started from another shipped model
    (``init_weights`` naming ``<other>.keras`` in ``out_dir``) counts that
    model's steps too: ``steps_trained`` is the total, ``steps_this_run`` this run's. Shipping the same run
    again (over its own parent's name too) records the same totals. With ``archive_dir``, that model's record
    is kept there (``previous_record``) and named in this one's ``"previous"``: a shipped model's records,
    followed back, are its whole training (``curves.lineage``).

    Returns:
        The ``MODELS.json`` entry written.
    """
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, f"{name}.keras")
    record = run_record(model_dir)
    previous = previous_record(out_dir, name, record, archive_dir)
    weights = export_shipped_model(model_dir, out_path, use_best=use_best)
    config, history = record["config"], record["history"]
    best = runs.best_record(history, "eval_psnr")
    shipped_best = best is not None and os.path.basename(weights).startswith("best")
    step = best["step"] if shipped_best else (history[-1]["step"] if history else None)
    index_path = os.path.join(out_dir, "MODELS.json")
    index = {}
    if os.path.exists(index_path):
        with open(index_path) as handle:
            index = json.load(handle)
    parent = _parent_name(config)
    steps_before = (index[parent].get("steps_trained") or 0) if parent in index else 0
    if parent == name and _shipped_from(out_dir, index.get(name), record):
        # This run was shipped over its own parent before (shipped again, e.g. another checkpoint): the parent's
        # steps are those before that shipping, not the total it recorded.
        steps_before -= index[name].get("steps_this_run") or 0
    resolved = config.get("resolved") or {}
    entry = {
        "file": os.path.basename(out_path),
        "architecture": config.get("architecture") or "multiscale",
        "sigma": config.get("sigma"),
        "sigma_range": config.get("sigma_range"),
        "steps_trained": (step or 0) + steps_before,
        "steps_this_run": step,
        # The parent as it was when this run started from it (it may be this very name, shipped again).
        "init_from": (
            f"{parent} (its {steps_before:,}-step version)" if parent in index else config.get("init_weights")
        ),
        "batch_size": config.get("batch_size"),
        "patch_size": config.get("patch_size"),
        "learning_rate": config.get("learning_rate"),
        "eval_psnr_db": best["eval_psnr"] if best else None,
        "eval": _eval_description(config),
        "hardware": hardware,
        "precision": resolved.get("dtype_policy", "float32"),
        "data": data_description(config.get("data_dir") or ""),
        # Wall time of the epochs up to the shipped one (training + evaluation; None for runs before it was logged).
        "train_seconds": _train_seconds(history, step),
        "history": f"{name}.history.json",
    }
    index[name] = entry
    if previous:
        record = {**record, "previous": previous}
    atomic.write_json(os.path.join(out_dir, entry["history"]), record, indent=2)
    atomic.write_json(index_path, index, indent=2)
    return entry
