"""Choosing a trained segmentation head's input scale on a validation split (``experiments/probes/choose_head_scale.py``).

A DeepLab head trained with scale augmentation has seen frames larger than their own size; run at 1.5x
(``deeplab.with_input_scale``) its output grid (stride 8) is finer on the frame, which thin classes (poles,
signs) need. The scale is a setting of the trained head, so it is chosen like a checkpoint: each scale of a
grid is measured on the validation split (whole frames, clean), the best mIoU wins (ties: the smaller, cheaper
scale), and the evaluation split is measured once, with the chosen head only.

Writes to ``out``: ``scales.json`` (each scale's validation mIoU, saved after each one, so an interrupted run
resumes; kept only for the same head file; the evaluation split is not measured again for the same choice),
``head.keras`` (the head at the chosen scale), ``eval.json`` (its clean result on the evaluation split, with each
class's IoU) and ``scales.md`` (the table).
"""

from __future__ import annotations

import dataclasses
import logging
import os

from keras_semdenoise import atomic, task_kinds
from keras_semdenoise.config_flags import setting
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import store
from keras_semdenoise.evaluation.denoising import model_identity
from keras_semdenoise.models.heads.deeplab import check_input_scale, input_scale_of, with_input_scale
from keras_semdenoise.models.heads.factory import load_head
from keras_semdenoise.training.head_training import measure_segmentation

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True)
class HeadScaleConfig(sources.TaskDataConfig):
    """Choosing a trained segmentation head's input scale (``experiments/probes/choose_head_scale.py``: one flag per field)."""

    task: str = setting("segmentation", "High-level task (segmentation only).", choices=(task_kinds.SEGMENTATION.name,))
    head: str = setting(help="The trained segmentation head (.keras), at any input scale.")
    out: str = setting(help="Output folder: scales.json, scales.md, head.keras (chosen scale), eval.json.")
    scales: tuple[float, ...] = setting(
        (1.0, 1.25, 1.5, 1.75, 2.0), "Input scales tried (the cost grows as their square)."
    )
    val_split: str = setting("val", "Split that chooses the scale (clean, whole frames).")
    val_batches: int = setting(0, "Frames of val_split measured (0: all).")
    eval_split: str | None = setting("test", "Split measured once with the chosen head ('' for none).")
    eval_batches: int = setting(0, "Frames of eval_split measured (0: all).")

    def __post_init__(self):
        if not self.scales:
            raise ValueError("scales: give at least one input scale")
        self.scales = tuple(check_input_scale(scale) for scale in self.scales)
        if self.eval_split and self.eval_split == self.val_split:
            raise ValueError(
                f"eval_split and val_split are both {self.val_split!r}: the split that chooses the "
                "scale cannot also report it"
            )


def scale_key(scale: float) -> str:
    """A scale as a results key: ``1.5`` -> ``"1.5"``."""
    return f"{scale:g}"


def chosen_scale(validation: dict) -> float:
    """The scale with the best validation mIoU in ``{scale key: mIoU}``; ties go to the smaller scale."""
    return min((float(key) for key in validation), key=lambda scale: (-validation[scale_key(scale)], scale))


def scales_markdown(state: dict) -> str:
    """``scales.md``: each scale's validation mIoU and relative cost, the chosen one, its evaluation result."""
    lines = [
        f"Input scale of `{state['head']}` chosen on `{state['val_split']}` (clean mIoU, whole frames).",
        "",
        "| input scale | cost (x) | validation mIoU (%) |",
        "| --- | --- | --- |",
    ]
    chosen = state.get("chosen")
    for key, miou in sorted(state["validation"].items(), key=lambda item: float(item[0])):
        mark = " (chosen)" if chosen is not None and key == scale_key(chosen) else ""
        lines.append(f"| {key}{mark} | {float(key) ** 2:.2f} | {miou:.2f} |")
    evaluation = state.get("evaluation")
    if evaluation:
        lines += [
            "",
            f"Chosen head on `{evaluation['split']}` ({evaluation['images']} frames, measured once): "
            f"mIoU {evaluation['miou']:.2f}%.",
        ]
    return "\n".join(lines) + "\n"


def choose_input_scale(config: HeadScaleConfig, progress: bool = True) -> dict:
    """Measures ``config.head`` at each of ``config.scales`` on the validation split, saves the best as
    ``<out>/head.keras`` and measures it once on the evaluation split. Returns the state written to
    ``<out>/scales.json``: ``{"head", "identity", "val_split", "validation": {scale: mIoU}, "chosen",
    "evaluation"}``."""
    from tqdm import tqdm

    head = load_head(config.head)
    identity = model_identity(config.head)
    path = os.path.join(config.out, "scales.json")
    state = store.load(path) or {}
    if (
        state.get("identity") != identity
        or state.get("val_split") != config.val_split
        or state.get("val_batches") != config.val_batches
    ):
        state = {}
    state.update(
        head=config.head,
        identity=identity,
        trained_scale=input_scale_of(head),
        val_split=config.val_split,
        val_batches=config.val_batches,
    )
    validation = state.setdefault("validation", {})
    val = config.load_split(config.val_split)
    for scale in tqdm(config.scales, desc="input scales", unit="scale", disable=not progress):
        if scale_key(scale) in validation:
            continue
        result = measure_segmentation(with_input_scale(head, scale), val, config.val_batches)
        validation[scale_key(scale)] = result["miou"]
        logger.info("input scale %g: %s mIoU %.2f%%", scale, config.val_split, result["miou"])
        atomic.write_json(path, state, indent=1)
    measured = {scale_key(scale): validation[scale_key(scale)] for scale in config.scales}
    chosen = chosen_scale(measured)
    best = with_input_scale(head, chosen)
    atomic.save_model(best, os.path.join(config.out, "head.keras"))
    done = state.get("evaluation") or {}
    if (
        state.get("chosen") != chosen
        or done.get("split") != config.eval_split
        or done.get("batches") != config.eval_batches
    ):
        state.pop("evaluation", None)  # measured again only where the chosen head or the split changed
    state["chosen"] = chosen
    if config.eval_split and "evaluation" not in state:
        split = config.load_split(config.eval_split, val.ignore_index, val.num_classes)
        result = measure_segmentation(best, split, config.eval_batches, per_class=True)
        state["evaluation"] = {
            "split": config.eval_split,
            "batches": config.eval_batches,
            "input_scale": chosen,
            **result,
        }
        atomic.write_json(os.path.join(config.out, "eval.json"), state["evaluation"], indent=2)
    atomic.write_json(path, state, indent=1)
    atomic.write_text(os.path.join(config.out, "scales.md"), scales_markdown(state))
    return state
