"""The loss scale chosen on validation data: short joint runs, one per task and scale (``losses.LOSS_SCALES``),
read back, compared and written up (``loss_scale.md``, ``loss_scale.png``, ``loss_scale.json``).

The runs are ordinary joint-training runs (``joint_training.run_joint_training`` with a ``val_split``): each
``history.json`` has the validation task metric and PSNR at step 0 and at every checkpoint. ``choose`` picks
per task; the joint stages then read ``loss_scale.json`` (``JointConfig.loss_scale_file``).
``experiments/reproduce/choose_loss_scale.py`` is the command (``LossScaleChoiceConfig``: one flag per field).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from keras_semdenoise import atomic
from keras_semdenoise.config_flags import setting
from keras_semdenoise.evaluation.intervals import validation_metric
from keras_semdenoise.task_kinds import TASKS
from keras_semdenoise.training import losses
from keras_semdenoise.training.runs import load_history

CRITERION = (
    "the best validation task metric over a run's checkpoints after step 0 (ties: the paper's scale), "
    "because the joint runs ship their best checkpoint by validation"
)


@dataclasses.dataclass(kw_only=True)
class LossScaleChoiceConfig:
    """Which study runs to compare and where the choice goes."""

    runs: tuple[str, ...] = setting(
        help="Joint-training run folders with a validation split, one per task and "
        "loss scale (their config.json says which)."
    )
    out: str = setting(help="Folder for loss_scale.md, loss_scale.png and loss_scale.json.")


def validation_curve(history: list[dict], metric: str) -> list[dict]:
    """``[{"step", metric, "val_psnr"}]`` of the validated records of a joint run's ``history.json`` (none in
    the dict of loss lists that earlier versions wrote)."""
    records = history if isinstance(history, list) else []
    return [{"step": h["step"], metric: h[metric], "val_psnr": h["val_psnr"]} for h in records if metric in h]


def read_runs(runs, kept: dict | None = None) -> dict:
    """``{task: {scale: run summary}}`` of study run folders; a summary holds the run's lambdas, sigma, splits,
    its validation ``curve`` (``[{"step", metric, "val_psnr"}]``), and its ``best`` / ``best_step`` / ``final``
    metric after step 0.

    ``kept``: an earlier ``loss_scale.json`` (its ``tasks``); a run whose folder is gone (run folders are scratch)
    is taken from there, by its folder name. The pipeline asks for that only while the run's inputs are the ones
    it was made from (``stages._loss_scale_stages``)."""
    kept_runs = {
        summary["run"]: (task, scale, summary)
        for task, scales in (kept or {}).items()
        for scale, summary in scales.items()
    }
    studied: dict = {}
    for run in runs:
        if not os.path.exists(os.path.join(run, "config.json")) and run in kept_runs:
            task, scale, summary = kept_runs[run]
            logging.info("%s: its folder is gone; its summary is the one kept in loss_scale.json", run)
            studied.setdefault(task, {})[scale] = summary
            continue
        with open(os.path.join(run, "config.json")) as handle:
            config = json.load(handle)
        metric = validation_metric(config["task"])
        history = load_history(run)
        curve = validation_curve(history, metric)
        trained = [point for point in curve if point["step"] > 0]
        if not trained:
            raise ValueError(f"{run} has no validated checkpoint after step 0: run it with a val_split")
        best = max(trained, key=lambda point: point[metric])  # the first of equal scores, as the run ships
        studied.setdefault(config["task"], {})[config["scale"]] = {
            "run": run,
            "metric": metric,
            "sigma": config["sigma"],
            "steps": config["steps"],
            "train_split": config["train_split"],
            "val_split": config["val_split"],
            "val_images": next(h["val_images"] for h in history if metric in h),
            "lambdas": {name: config[name] for name in ("lambda_d", "lambda_p", "lambda_h")},
            "curve": curve,
            "best": best[metric],
            "best_step": best["step"],
            "final": trained[-1][metric],
        }
    return studied


def choose(scales: dict) -> str:
    """The scale to train with, out of ``{scale: run summary}``: the highest ``best``, by ``CRITERION``.

    Why the best and not the final checkpoint: a joint run ships its best checkpoint by validation, so that is
    what a scale delivers; both scales have the same checkpoints, so the optimism of a maximum is shared.
    Step 0 (the same separate denoiser for every scale) says nothing about a scale and is left out. Ties go
    to the paper's scale, the first of ``losses.LOSS_SCALES``.
    """
    ordered = sorted(scales, key=lambda scale: losses.LOSS_SCALES.index(scale))
    return max(ordered, key=lambda scale: scales[scale]["best"])


def plot_curves(panels: dict, path: str) -> str:
    """Validation curves, one column per ``{title: {label: curve}}`` panel: the task metric above, PSNR below.
    A curve is ``[{"step", "val_top1" or "val_miou", "val_psnr"}]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 5.2), dpi=100, squeeze=False)
    for column, (title, curves) in enumerate(panels.items()):
        for label, curve in curves.items():
            metric = next(key for key in curve[0] if key not in ("step", "val_psnr"))
            steps = [point["step"] for point in curve]
            axes[0][column].plot(steps, [point[metric] for point in curve], marker="o", markersize=3, label=label)
            axes[1][column].plot(steps, [point["val_psnr"] for point in curve], marker="o", markersize=3)
            axes[0][column].set_ylabel(f"validation {metric[len('val_') :]} (%)")
        axes[0][column].set_title(title, fontsize=9)
        axes[0][column].legend(fontsize=8)
        axes[1][column].set_ylabel("validation PSNR (dB)")
        axes[1][column].set_xlabel("joint training steps")
        for axis in axes[:, column]:
            axis.grid(alpha=0.3)
    figure.tight_layout()
    atomic.save_figure(figure, path)
    plt.close(figure)
    return path


def markdown(choice: dict) -> str:
    """``loss_scale.md``: per task, the choice and why, then every checkpoint of every scale."""
    lines = [
        "# Loss scale chosen on validation data",
        "",
        f"Each task's joint training was run once per loss scale; chosen: {CRITERION}. Step 0 is the "
        "separate denoiser the runs start from. Scales: `paper` (MSE on [0, 1]) and `official` (the official "
        "Caffe code's 0.5 x summed squared error on 0..255); see `keras_semdenoise/training/losses.py`.",
        "",
        "![validation curves](loss_scale.png)",
        "",
    ]
    for task, scales in choice["tasks"].items():
        first = next(iter(scales.values()))
        name = first["metric"][len("val_") :]
        chosen = choice["chosen"][task]
        against = ", ".join(f"{scale} {summary['best']:.2f}%" for scale, summary in scales.items() if scale != chosen)
        lines += [
            f"## {task}: `{chosen}`",
            "",
            f"Best validation {name} after step 0: {chosen} {scales[chosen]['best']:.2f}% (step "
            f"{scales[chosen]['best_step']})" + (f" vs {against}." if against else "."),
            f"Sigma {first['sigma']:g}, {first['steps']} steps on `{first['train_split']}`, validated on "
            f"{first['val_images']} images of `{first['val_split']}` with the evaluation's seeded noise.",
            _conclusiveness(scales, chosen),
            "",
            f"| scale | lambda_D / lambda_P / lambda_H | step | validation {name} (%) | validation PSNR (dB) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for scale, summary in scales.items():
            lambdas = " / ".join(f"{summary['lambdas'][k]:g}" for k in ("lambda_d", "lambda_p", "lambda_h"))
            for point in summary["curve"]:
                lines.append(
                    f"| {scale} | {lambdas} | {point['step']} | {point[summary['metric']]:.2f} | "
                    f"{point['val_psnr']:.2f} |"
                )
        lines.append("")
    return "\n".join(lines)


def choose_loss_scale(config: LossScaleChoiceConfig) -> dict:
    """Reads the study runs, chooses a scale per task and writes ``loss_scale.{json,md,png}`` in ``out``.

    Returns what ``loss_scale.json`` holds: ``{"criterion", "chosen": {task: scale}, "tasks": {task: {scale:
    run summary}}}`` (``read_runs``).
    """
    path = os.path.join(config.out, "loss_scale.json")
    kept = None
    if os.path.exists(path):
        with open(path) as handle:
            kept = json.load(handle).get("tasks")
    studied = read_runs(config.runs, kept)
    tasks = {task: studied[task] for task in TASKS if task in studied}
    choice = {
        "criterion": CRITERION,
        "chosen": {task: choose(scales) for task, scales in tasks.items()},
        "tasks": tasks,
    }
    plot_curves(
        {
            f"{task}, sigma {next(iter(scales.values()))['sigma']:g}": {
                scale: summary["curve"] for scale, summary in scales.items()
            }
            for task, scales in tasks.items()
        },
        os.path.join(config.out, "loss_scale.png"),
    )
    atomic.write_text(os.path.join(config.out, "loss_scale.md"), markdown(choice))
    atomic.write_json(os.path.join(config.out, "loss_scale.json"), choice, indent=2)
    return choice


def _conclusiveness(scales: dict, chosen: str) -> str:
    """Whether the winning margin is larger than the checkpoint-to-checkpoint jumps of the curves themselves."""
    others = [summary["best"] for scale, summary in scales.items() if scale != chosen]
    if not others:
        return ""
    margin = scales[chosen]["best"] - max(others)
    jumps = [
        abs(b[s["metric"]] - a[s["metric"]]) for s in scales.values() for a, b in zip(s["curve"][1:], s["curve"][2:])
    ]
    largest = max(jumps, default=0.0)
    if margin > largest:
        return f"The margin ({margin:.2f} points) exceeds every jump between consecutive checkpoints ({largest:.2f})."
    return (
        f"Not conclusive: the margin ({margin:.2f} points) is within the jumps between consecutive checkpoints "
        f"of the curves themselves (up to {largest:.2f}); the rule above decides, and a longer or larger "
        "validation could reverse it."
    )
