"""One evaluation of the high-level tasks (the paper's Tables IV/V): a frozen head's accuracy or mIoU on
clean inputs and, per sigma, on noisy inputs run through each setting (``task_kinds.SETTINGS``).

Protocol: the evaluation noise of ``noise.add_seeded_gaussian_noise``, seeded per task and image index
(``task_kinds.noise_name``), so every setting sees the same noisy images. Cells are kept in
``<out>/results.json`` (``evaluation.store``) after each one, so an interrupted evaluation resumes, and
each cell's per-image records beside it (``<out>/records/``), from which ``evaluation.intervals`` gives
the differences between settings with bootstrap intervals over images; the table and those differences
are written as ``<out>/results.md``. CBM3D estimates are computed once per image and kept
(``evaluation.cbm3d_cache``). ``tools/evaluate_task.py`` fills ``TaskEvaluationConfig``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_semdenoise import atomic, task_kinds
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import head_scores, intervals, store
from keras_semdenoise.evaluation.cbm3d_cache import Cbm3dCache


@dataclasses.dataclass(kw_only=True)
class TaskEvaluationConfig(sources.TaskDataConfig):
    """One task's table (``tools/evaluate_task.py``: one flag per field)."""

    split: str = setting("test", "Evaluation split.")
    head: str = setting(help="The frozen head (.keras).")
    sigmas: tuple[float, ...] = setting((15.0, 30.0, 45.0, 60.0), "Noise levels (0..255 scale).")
    settings: tuple[str, ...] = setting(task_kinds.SETTINGS, "Settings to measure.")
    separate: str | None = setting(None, "Separately trained denoiser path ({sigma} substituted).")
    joint: str | None = setting(None, "Jointly trained denoiser (this task) path.")
    cross: str | None = setting(None, "Denoiser jointly trained with the other task (cross-task) path.")
    crop_size: int = setting(224, "Classification input size / segmentation crop (0: whole images).")
    batch_size: int = setting(32, "Batch size.")
    max_batches: int = setting(0, "Evaluate only this many batches (0: the whole split).")
    out: str = setting("docs/task_evaluation", "Output folder.")
    cbm3d_cache: str | None = setting(
        None,
        "Folder keeping each image's CBM3D estimate (8-bit PNG, keyed by task, split, crop, sigma, image "
        "index and the noisy input) for later evaluations to reuse; default <out>/cbm3d_cache.",
    )
    workers: int = setting(1, "Processes computing CBM3D estimates in parallel (CPU bound: up to the cores).")
    part_images: int = setting(
        1000,
        "Images a cell is measured in at a time, its records so far saved after each "
        "part (an interrupted cell resumes from its last part; 0: whole cells).",
    )
    bootstrap_resamples: int = setting(
        intervals.RESAMPLES,
        "Resamples of the images for the difference intervals in results.md (paired bootstrap, seeded).",
    )

    def results_path(self) -> str:
        return os.path.join(self.out, "results.json")

    def cbm3d_cache_folder(self) -> str:
        return self.cbm3d_cache or os.path.join(self.out, "cbm3d_cache")


def _denoiser_file(paths: dict, setting_name: str, sigma_255: float | None) -> str | None:
    """The ``.keras`` path of a trained setting at ``sigma_255`` (``{sigma}`` substituted in its ``paths``
    entry); None for an untrained setting, the clean cell (sigma None) or a setting without a path."""
    pattern = paths.get(setting_name) if sigma_255 is not None else None
    return pattern.replace("{sigma}", f"{sigma_255:g}") if pattern else None


def _cell_key(sigma_255: float | None) -> str:
    return "clean" if sigma_255 is None else f"{sigma_255:g}"


def setting_denoiser(setting_name: str, sigma_255: float, paths: dict, cbm3d: Cbm3dCache | None = None):
    """``f(noisy batch, the images' indices) -> batch`` of a setting at ``sigma_255``, or None when it has
    nothing for this sigma.

    ``paths`` maps the trained settings (separate, joint, cross) to ``.keras`` paths with ``{sigma}`` in
    them; a setting without a path or file is skipped. ``cbm3d`` keeps and reuses the CBM3D estimates (None:
    computed here, not kept; rounded to 8 bits either way).
    """
    from keras_semdenoise.deploy import inference

    if setting_name == "noisy":
        return lambda batch, indices: batch
    if setting_name == "cbm3d":
        cbm3d = cbm3d or Cbm3dCache(None, "", "", None)
        return lambda batch, indices: cbm3d.denoise(batch, indices, sigma_255)
    path = _denoiser_file(paths, setting_name, sigma_255)
    if not path or not os.path.exists(path):
        return None
    model = inference.load_denoiser(path)
    return lambda batch, indices: inference.denoise_batch(model, batch)


def cell_inputs(head_path: str, paths: dict, setting_name: str, sigma_255: float | None) -> dict:
    """The files a cell is measured from, as ``{"head", "denoiser"}`` identities (``model_identity``: name and
    hash of the configuration and weights; None for no file): a kept cell is reused only while these are the
    same, so a replaced head or another denoiser shipped under the same name is measured again."""
    from keras_semdenoise.evaluation.denoising import model_identity_or_none

    denoiser = _denoiser_file(paths, setting_name, sigma_255)
    return {"head": model_identity_or_none(head_path), "denoiser": model_identity_or_none(denoiser)}


def open_evaluation(config: TaskEvaluationConfig):
    """The split and head ``config`` names, its settings checked: ``(split, head)``.

    Raises ValueError / FileNotFoundError for what a user gave wrong (before anything is measured).
    """
    from keras_semdenoise.models.heads import load_head

    if config.workers < 1 or config.bootstrap_resamples < 1:
        raise ValueError(
            f"workers and bootstrap_resamples must be at least 1, got {config.workers} and {config.bootstrap_resamples}"
        )
    split = sources.load_split(
        config.task,
        config.data,
        config.split,
        config.ignore_index,
        config.num_classes,
        config.data_dir,
        config.manual_dir,
    )
    head = load_head(config.head)
    task_kinds.check_settings(config.settings)
    return split, head


def evaluate_cells(config: TaskEvaluationConfig, split, head, progress: bool = True) -> dict:
    """Measures every cell not yet in ``results.json``: clean once, then each setting at each sigma.

    Returns the results state ``{"head", "data", "split", "cells": {setting: {sigma or "clean": result}}}``
    (``head_scores.measure_head``'s summaries, each with the ``cell_inputs`` it was measured from: a kept cell whose head
    or denoiser file has changed since is measured again), also written to ``results.json``, with each cell's records in
    ``<out>/records/`` (written first: a cell in the JSON has its records), and, as a table with the
    differences between settings, to ``results.md`` (after each cell, so an unfinished evaluation can be read).
    """
    from tqdm import tqdm

    state = store.load(config.results_path()) or {"cells": {}}
    state.update(head=config.head, data=config.data, split=config.split)
    paths = _denoiser_paths(config)
    crop = config.crop_size or None
    jobs = table_cells(config)
    with Cbm3dCache(config.cbm3d_cache_folder(), split.task, config.split, crop, config.workers) as cbm3d:
        for setting_name, sigma in tqdm(jobs, desc="settings", unit="cell", disable=not progress):
            key = _cell_key(sigma)
            inputs = cell_inputs(config.head, paths, setting_name, sigma)
            kept = state["cells"].get(setting_name, {})
            if key in kept:
                if kept[key].get("inputs") == inputs:
                    continue
                del kept[key]  # measured from another head or denoiser file (or before inputs were recorded)
                store.save(config.results_path(), state)
            denoise = None if sigma is None else setting_denoiser(setting_name, sigma, paths, cbm3d)
            if sigma is not None and denoise is None:
                continue
            records = _measure_in_parts(
                config,
                state,
                setting_name,
                key,
                inputs,
                split,
                head,
                sigma,
                denoise,
                cbm3d if setting_name == "cbm3d" else None,
                progress,
            )
            store.save_records(store.records_path(config.out, setting_name, key), records)
            state["cells"].setdefault(setting_name, {})[key] = {**head_scores.summarize(records), "inputs": inputs}
            state.get("parts", {}).get(setting_name, {}).pop(key, None)
            store.save(config.results_path(), state)
            if os.path.exists(_part_path(config, setting_name, key)):
                os.remove(_part_path(config, setting_name, key))
            _write_markdown(state, config)
    _write_markdown(state, config)
    return state


def _denoiser_paths(config: TaskEvaluationConfig) -> dict:
    return {"separate": config.separate, "joint": config.joint, "cross": config.cross}


def table_cells(config: TaskEvaluationConfig) -> list[tuple[str, float | None]]:
    """``(setting, sigma)`` of every cell of the table, the clean one first (sigma None)."""
    return [("clean", None)] + [(s, sigma) for sigma in config.sigmas for s in config.settings]


def unmeasured_cells(config: TaskEvaluationConfig) -> list[tuple[str, str]]:
    """``(setting, cell key)`` of each cell of ``config``'s table not in its ``results.json`` yet, leaving out
    trained settings without a denoiser file at that sigma (``evaluate_cells`` skips them too); empty once the
    table is whole. (A kept cell measured from files that have changed since is not counted here.)"""
    state = store.load(config.results_path()) or {"cells": {}}
    paths = _denoiser_paths(config)
    missing = []
    for setting_name, sigma in table_cells(config):
        key = _cell_key(sigma)
        if key in state["cells"].get(setting_name, {}):
            continue
        path = _denoiser_file(paths, setting_name, sigma)
        if setting_name in paths and not (path and os.path.exists(path)):
            continue
        missing.append((setting_name, key))
    return missing


def _write_markdown(state: dict, config: TaskEvaluationConfig) -> None:
    atomic.write_text(os.path.join(config.out, "results.md"), results_markdown(state, config) + "\n")


def _part_path(config: TaskEvaluationConfig, setting_name: str, key: str) -> str:
    return store.records_path(config.out, setting_name, key)[: -len(".npz")] + ".part.npz"


def _measure_in_parts(
    config: TaskEvaluationConfig,
    state: dict,
    setting_name: str,
    key: str,
    inputs: dict,
    split,
    head,
    sigma,
    denoise,
    cbm3d: Cbm3dCache | None,
    progress: bool,
) -> dict:
    """A cell's records, measured ``part_images`` at a time. After each part its records so far are saved
    (``<out>/records/<setting>_<key>.part.npz``, how far in ``results.json``'s ``"parts"``), so a cell
    interrupted halfway resumes from its last part, also in another checkout once those two files are kept
    (the CBM3D estimate cache need not be). Parts measured from other inputs or batches are discarded."""
    batch_size, crop = config.batch_size, config.crop_size or None
    per_part = max(1, -(-config.part_images // batch_size)) if config.part_images else None
    where = {"inputs": inputs, "batch_size": batch_size, "crop_size": config.crop_size}
    progress_record = state.setdefault("parts", {}).setdefault(setting_name, {}).get(key)
    records = store.load_records(_part_path(config, setting_name, key))
    done = 0
    if progress_record and records is not None and all(progress_record.get(k) == v for k, v in where.items()):
        done = progress_record["batches"]
    else:
        records = None
    while True:
        end = done + per_part if per_part else None
        if config.max_batches:
            end = min(end, config.max_batches) if end else config.max_batches
        if end is not None and done >= end:
            break
        if cbm3d is not None:
            _fill_cbm3d(cbm3d, split, batch_size, crop, end, sigma, progress, done)
        _, part = head_scores.measure_head(head, split, batch_size, crop, end, sigma, denoise, start_batch=done)
        count = len(next(iter(part.values())))
        records = part if records is None else {name: np.concatenate([records[name], part[name]]) for name in part}
        if end is None or count < (end - done) * batch_size:  # the split ended within this part
            break
        done = end
        store.save_records(_part_path(config, setting_name, key), records)
        state["parts"][setting_name][key] = {**where, "batches": done, "images": len(next(iter(records.values())))}
        store.save(config.results_path(), state)
    return records


def _fill_cbm3d(
    cbm3d: Cbm3dCache,
    split,
    batch_size: int,
    crop_size: int | None,
    max_batches: int | None,
    sigma_255: float,
    progress: bool,
    start_batch: int = 0,
) -> None:
    """Every CBM3D estimate of a cell (or of its batches from ``start_batch``) computed and kept before the
    head's pass reads them, so that all workers are busy whatever the batch size (whole CamVid frames come one
    per batch)."""
    from tqdm import tqdm

    passes = head_scores.noisy_batches(split, batch_size, crop_size, max_batches, sigma_255, start_batch)
    noisy = ((i, image) for indices, _, inputs, _ in passes for i, image in zip(indices, inputs))
    cbm3d.fill(
        tqdm(noisy, desc=f"CBM3D sigma {sigma_255:g}", unit="image", leave=False, disable=not progress), sigma_255
    )


def results_markdown(state: dict, config: TaskEvaluationConfig) -> str:
    """``results.md``: the table, then the differences between settings with their intervals (when any)."""
    differences = intervals.differences_markdown(
        state, config.task, store.records_reader(config.out), config.bootstrap_resamples
    )
    return markdown_table(state, config.task) + (f"\n\n{differences}" if differences else "")


def _score_text(task: str, cell: dict) -> str:
    return (
        f"{cell['top1']:.1f} / {cell['top5']:.1f}" if task == task_kinds.CLASSIFICATION.name else f"{cell['miou']:.2f}"
    )


def markdown_table(state: dict, task: str) -> str:
    """The paper-style table (Tables IV/V) of an ``evaluate_cells`` results state, as markdown."""
    from keras_semdenoise import evaluation

    metric = "top-1 / top-5 accuracy (%)" if task == task_kinds.CLASSIFICATION.name else "mIoU (%)"
    sigmas = sorted({s for cells in state["cells"].values() for s in cells if s != "clean"}, key=float)
    lines = [
        f"Task: {task}, head `{state['head']}`, data `{state['data']}` split `{state['split']}`, "
        f"{metric}; PSNR (dB) of the head's input in brackets.",
        "",
        f"Noise: {evaluation.PROTOCOL}.",
        "",
        f"Machine: {evaluation.machine_description()}.",
        "",
        "| setting | " + " | ".join([f"sigma {s}" for s in sigmas] or ["no noise"]) + " |",
        "| --- |" + " --- |" * max(len(sigmas), 1),
    ]
    clean = state["cells"].get("clean", {}).get("clean")
    if clean:
        value = _score_text(task, clean)
        lines.append(f"| {task_kinds.SETTING_TITLES['clean']} | " + " | ".join([value] * max(len(sigmas), 1)) + " |")
    for setting_name in task_kinds.SETTINGS:
        cells = state["cells"].get(setting_name)
        if not cells:
            continue
        row = []
        for sigma in sigmas:
            cell = cells.get(sigma)
            if not cell:
                row.append("")
                continue
            value = _score_text(task, cell)
            row.append(f"{value} ({cell['psnr']:.2f})" if "psnr" in cell else value)
        lines.append(f"| {task_kinds.SETTING_TITLES[setting_name]} | " + " | ".join(row) + " |")
    count = next((c["images"] for cells in state["cells"].values() for c in cells.values()), 0)
    lines += ["", f"{count} images per cell."]
    return "\n".join(lines)
