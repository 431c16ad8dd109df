"""One evaluation of the high-level tasks (the paper's Tables IV/V): a frozen head's accuracy or mIoU on
clean inputs and, per sigma, on noisy inputs run through each setting (``tasks.SETTINGS``).

Protocol: the evaluation noise of ``noise.add_seeded_gaussian_noise``, seeded per task and image index
(``tasks.noise_name``), so every setting sees the same noisy images. Cells are kept in
``<out>/results.json`` (``evaluation.store``) after each one, so an interrupted evaluation resumes; the
table is written as ``<out>/results.md``. ``tools/evaluate_task.py`` fills ``TaskEvaluationConfig``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_semdenoise import atomic, metrics, noise, tasks
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import store


@dataclasses.dataclass(kw_only=True)
class TaskEvaluationConfig(sources.TaskDataConfig):
    """One task's table (``tools/evaluate_task.py``: one flag per field)."""

    split: str = setting("test", "Evaluation split.")
    head: str = setting(help="The frozen head (.keras).")
    sigmas: tuple[float, ...] = setting((15.0, 30.0, 45.0, 60.0), "Noise levels (0..255 scale).")
    settings: tuple[str, ...] = setting(tasks.SETTINGS, "Settings to measure.")
    separate: str | None = setting(None, "Separately trained denoiser path ({sigma} substituted).")
    joint: str | None = setting(None, "Jointly trained denoiser (this task) path.")
    cross: str | None = setting(None, "Denoiser jointly trained with the other task (cross-task) path.")
    crop_size: int = setting(224, "Classification input size / segmentation crop (0: whole images).")
    batch_size: int = setting(32, "Batch size.")
    max_batches: int = setting(0, "Evaluate only this many batches (0: the whole split).")
    out: str = setting("docs/task_evaluation", "Output folder.")

    def results_path(self) -> str:
        return os.path.join(self.out, "results.json")


def evaluate_head(head, split, batch_size: int, crop_size: int | None, max_batches: int | None = None,
                  sigma_255: float | None = None, denoise=None) -> dict:
    """Top-1/top-5 or mIoU of ``head`` on ``split``, optionally on seeded-noise inputs run through ``denoise``.

    Args:
        split: from ``data.sources.load_split``.
        sigma_255: if set, each image gets the evaluation noise seeded by its index in the split.
        denoise: optional ``f(noisy batch (N, H, W, 3)) -> batch``: the setting being measured.
    Returns:
        ``{"images": n, "top1": %, "top5": %}`` or ``{"images": n, "miou": %}``, plus ``"psnr"``
        (mean dB of the head's input against the clean image) when ``sigma_255`` is set.
    """
    correct1 = correct5 = count = 0
    confusion = None
    psnrs = []
    classification = tasks.check_task(split.task) == tasks.CLASSIFICATION.name
    for index, (images, labels) in enumerate(sources.batches(split, batch_size, crop_size, training=False)):
        if max_batches and index >= max_batches:
            break
        clean = images = np.asarray(images)
        if sigma_255 is not None:
            images = np.stack([
                noise.add_seeded_gaussian_noise(image, sigma_255, tasks.noise_name(split.task, count + i))
                for i, image in enumerate(images)
            ])
        if denoise is not None:
            images = np.asarray(denoise(images))
        if sigma_255 is not None:
            psnrs += [metrics.psnr_uint8(c, d) for c, d in zip(clean, images)]
        logits = np.asarray(head(images, training=False))
        labels = np.asarray(labels)
        if classification:
            correct1 += int(metrics.top_k_correct(labels, logits, 1).sum())
            correct5 += int(metrics.top_k_correct(labels, logits, min(5, logits.shape[-1])).sum())
        else:
            matrix = metrics.confusion_matrix(labels, logits.argmax(-1), split.num_classes, split.ignore_index)
            confusion = matrix if confusion is None else confusion + matrix
        count += len(images)
    result = {"images": count}
    if psnrs:
        result["psnr"] = float(np.mean(psnrs))
    if classification:
        return {**result, "top1": 100.0 * correct1 / max(count, 1), "top5": 100.0 * correct5 / max(count, 1)}
    return {**result, "miou": 100.0 * metrics.mean_iou(confusion)}


def setting_denoiser(setting_name: str, sigma_255: float, paths: dict):
    """``f(noisy batch) -> batch`` of a setting at ``sigma_255``, or None when it has nothing for this sigma.

    ``paths`` maps the trained settings (separate, joint, cross) to ``.keras`` paths with ``{sigma}`` in
    them; a setting without a path or file is skipped.
    """
    from keras_semdenoise import baselines, inference

    if setting_name == "noisy":
        return lambda batch: batch
    if setting_name == "cbm3d":
        return lambda batch: np.stack([baselines.cbm3d_denoise(image, sigma_255) for image in batch])
    pattern = paths.get(setting_name)
    path = pattern.replace("{sigma}", f"{sigma_255:g}") if pattern else None
    if not path or not os.path.exists(path):
        return None
    model = inference.load_denoiser(path)
    return lambda batch: np.stack([inference.denoise(model, image) for image in batch])


def open_evaluation(config: TaskEvaluationConfig):
    """The split and head ``config`` names, its settings checked: ``(split, head)``.

    Raises ValueError / FileNotFoundError for what a user gave wrong (before anything is measured).
    """
    from keras_semdenoise.heads import load_head

    split = sources.load_split(config.task, config.data, config.split, config.ignore_index, config.num_classes,
                               config.data_dir, config.manual_dir)
    head = load_head(config.head)
    tasks.check_settings(config.settings)
    return split, head


def evaluate_cells(config: TaskEvaluationConfig, split, head, progress: bool = True) -> dict:
    """Measures every cell not yet in ``results.json``: clean once, then each setting at each sigma.

    Returns the results state ``{"head", "data", "split", "cells": {setting: {sigma or "clean": result}}}``
    (``evaluate_head``'s results), also written to ``results.json`` and, as a table, to ``results.md``.
    """
    from tqdm import tqdm

    state = store.load(config.results_path()) or {"cells": {}}
    state.update(head=config.head, data=config.data, split=config.split)
    paths = {"separate": config.separate, "joint": config.joint, "cross": config.cross}
    crop = config.crop_size or None
    batches = config.max_batches or None
    jobs = [("clean", None)] + [(s, sigma) for sigma in config.sigmas for s in config.settings]
    for setting_name, sigma in tqdm(jobs, desc="settings", unit="cell", disable=not progress):
        key = "clean" if sigma is None else f"{sigma:g}"
        if key in state["cells"].get(setting_name, {}):
            continue
        denoise = None if sigma is None else setting_denoiser(setting_name, sigma, paths)
        if sigma is not None and denoise is None:
            continue
        state["cells"].setdefault(setting_name, {})[key] = evaluate_head(
            head, split, config.batch_size, crop, batches, sigma, denoise)
        store.save(config.results_path(), state)
    atomic.write_text(os.path.join(config.out, "results.md"), markdown_table(state, config.task) + "\n")
    return state


def _score_text(task: str, cell: dict) -> str:
    return f"{cell['top1']:.1f} / {cell['top5']:.1f}" if task == tasks.CLASSIFICATION.name else f"{cell['miou']:.2f}"


def markdown_table(state: dict, task: str) -> str:
    """The paper-style table (Tables IV/V) of an ``evaluate_cells`` results state, as markdown."""
    from keras_semdenoise import evaluation

    metric = "top-1 / top-5 accuracy (%)" if task == tasks.CLASSIFICATION.name else "mIoU (%)"
    sigmas = sorted({s for cells in state["cells"].values() for s in cells if s != "clean"}, key=float)
    lines = [f"Task: {task}, head `{state['head']}`, data `{state['data']}` split `{state['split']}`, "
             f"{metric}; PSNR (dB) of the head's input in brackets.", "",
             f"Noise: {evaluation.PROTOCOL}.", "", f"Machine: {evaluation.machine_description()}.", "",
             "| setting | " + " | ".join([f"sigma {s}" for s in sigmas] or ["no noise"]) + " |",
             "| --- |" + " --- |" * max(len(sigmas), 1)]
    clean = state["cells"].get("clean", {}).get("clean")
    if clean:
        value = _score_text(task, clean)
        lines.append(f"| {tasks.SETTING_TITLES['clean']} | " + " | ".join([value] * max(len(sigmas), 1)) + " |")
    for setting_name in tasks.SETTINGS:
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
        lines.append(f"| {tasks.SETTING_TITLES[setting_name]} | " + " | ".join(row) + " |")
    count = next((c["images"] for cells in state["cells"].values() for c in cells.values()), 0)
    lines += ["", f"{count} images per cell."]
    return "\n".join(lines)
