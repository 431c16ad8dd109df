"""Learning curves of training runs: evaluation PSNR vs training steps, read back and drawn."""

from __future__ import annotations

import json
import os

from keras_semdenoise import atomic
from keras_semdenoise.training import describe_sigmas, evaluation_sigmas


def load_curve(run: str) -> tuple[list[int], list[float], dict, str]:
    """Steps, evaluation PSNRs, config and label of a run folder or a shipped ``<name>.history.json``.

    A shipped model's curve is shifted by the steps of the model it started from (from the
    MODELS.json beside it), so fine-tuned models are drawn at their total step count.
    """
    if os.path.isfile(run):
        with open(run) as handle:
            saved = json.load(handle)
        history, config = saved["history"], saved["config"]
        name = os.path.basename(run)[: -len(".history.json")]
        offset = 0
        index_path = os.path.join(os.path.dirname(run), "MODELS.json")
        if os.path.exists(index_path):
            with open(index_path) as handle:
                entry = json.load(handle).get(name, {})
            offset = (entry.get("steps_trained") or 0) - (entry.get("steps_this_run") or 0)
    else:
        with open(os.path.join(run, "history.json")) as handle:
            history = json.load(handle)
        with open(os.path.join(run, "config.json")) as handle:
            config = json.load(handle)
        name, offset = os.path.basename(os.path.normpath(run)), 0
    history = [h for h in history if "eval_psnr" in h]
    policy = (config.get("resolved") or {}).get("dtype_policy", "float32")
    precision = "bf16" if "bfloat16" in policy else "fp32"
    where = os.path.basename(config["eval_dir"].rstrip("/")) if config.get("eval_dir") else "validation"
    label = f"{name} ({precision}, {where} at {describe_sigmas(evaluation_sigmas(config))})"
    return [h["step"] + offset for h in history], [h["eval_psnr"] for h in history], config, label


def evaluation_images_label(config: dict) -> str:
    """What a run evaluated its checkpoints on, in words (the validation hold-out, or a folder)."""
    if config.get("eval_dir"):
        return f"first {config.get('eval_images')} images of {os.path.basename(config['eval_dir'].rstrip('/'))}"
    return f"{config.get('eval_images', 16)} held-out CBSD432 images"


def plot(runs: list[str], out: str, references: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2), dpi=120)
    evaluated_on = set()
    for run in runs:
        steps, values, config, label = load_curve(run)
        axis.plot(steps, values, marker="o", markersize=3, label=label)
        evaluated_on.add(evaluation_images_label(config))
    for name, value in references.items():
        axis.axhline(value, linestyle="--", linewidth=1, color="gray")
        axis.text(axis.get_xlim()[0], value, f" {name}", va="bottom", fontsize=8, color="dimgray")
    axis.set_xlabel("training steps")
    axis.set_ylabel("PSNR (dB), " + (evaluated_on.pop() if len(evaluated_on) == 1 else "see each run"))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic.save_figure(figure, out)
