"""Learning curves of training runs: evaluation PSNR vs training steps, read back and drawn."""

from __future__ import annotations

import json
import os

from keras_semdenoise import atomic
from keras_semdenoise.training import runs
from keras_semdenoise.training.runs import describe_sigmas, evaluation_sigmas


def _read_run(run: str) -> tuple[list[dict], dict, str, int]:
    """History records with an evaluation, config, name and the steps before the run (a shipped model's
    ``<name>.history.json`` with MODELS.json beside it: the steps of the model it started from; else 0)."""
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
    return [h for h in history if "eval_psnr" in h], config, name, offset


def load_curve(run: str) -> tuple[list[int], list[float], dict, str]:
    """Steps, evaluation PSNRs, config and label of a run folder or a shipped ``<name>.history.json``.

    A shipped model's curve is shifted by the steps of the model it started from (from the
    MODELS.json beside it), so fine-tuned models are drawn at their total step count.
    """
    history, config, name, offset = _read_run(run)
    policy = (config.get("resolved") or {}).get("dtype_policy", "float32")
    precision = "bf16" if "bfloat16" in policy else "fp32"
    where = os.path.basename(config["eval_dir"].rstrip("/")) if config.get("eval_dir") else "validation"
    label = f"{name} ({precision}, {where} at {describe_sigmas(evaluation_sigmas(config))})"
    return [h["step"] + offset for h in history], [h["eval_psnr"] for h in history], config, label


# The pixels of one step of the paper's batch (32 patches of 48x48): the unit of a chain's x axis.
PAPER_STEP_PIXELS = 32 * 48 * 48


def step_pixels(config: dict) -> int:
    """Pixels one training step of the run of ``config`` saw (batch x patch side squared)."""
    return int(config.get("batch_size", 32)) * int(config.get("patch_size", 48)) ** 2


def load_chain(spec: str) -> list[tuple[list[float], list[float], dict, bool]]:
    """The runs of one model, one after another, each started from the best checkpoint of the one before (as
    ``tools/ship_model.py`` ships): ``"A[@START]+B+~C+D"`` (history files or run folders; ``@START``: where the
    first run starts, in steps of 32 x 48x48; ``~``: a run that counts for where the next one starts but is not
    drawn, e.g. one evaluated at other noise levels).

    Returns ``(x, psnr, config, drawn)`` per run, x in steps of 32 x 48x48 patches (the paper's batch), so that
    runs of larger batches (a GPU's) are drawn at the pixels they saw rather than at their step count.
    """
    parts = spec.split("+")
    parts[0], _, start = parts[0].partition("@")
    offset = float(start or 0)
    chain = []
    for part in parts:
        history, config, _, _ = _read_run(part.lstrip("~"))
        if not history:
            raise ValueError(f"{part}: no evaluated checkpoint")
        scale = step_pixels(config) / PAPER_STEP_PIXELS
        x = [offset + h["step"] * scale for h in history]
        values = [h["eval_psnr"] for h in history]
        chain.append((x, values, config, not part.startswith("~")))
        offset += runs.best_record(history, "eval_psnr")["step"] * scale  # where ship_model's best came from
    return chain


def lineage(record_path: str, limit: int = 100) -> str:
    """A ``load_chain`` spec of a shipped model's whole training, read back through the records' ``"previous"``
    links (``ship.ship_run``), oldest first: ``"A@START+B+~C+D"``. The oldest record's ``"start_steps"``
    (steps of 32 x 48x48 trained before it, where known) is where it starts; a run evaluated at other noise levels
    than the newest (``~``) counts for the steps but is not drawn. Relative links are read from the working
    directory (the repository root, where the tools run)."""
    paths, levels, path = [], [], record_path
    while path:
        if path in paths or len(paths) >= limit:
            raise ValueError(f'{record_path}: the records\' "previous" links loop or run past {limit}')
        with open(path) as handle:
            record = json.load(handle)
        if not isinstance(record, dict):
            raise ValueError(f"{path}: a bare list of records, with no configuration to chain")
        paths.append(path)
        levels.append(evaluation_sigmas(record["config"]))
        start, path = record.get("start_steps"), record.get("previous")
    parts = [("" if level == levels[0] else "~") + p for p, level in zip(reversed(paths), reversed(levels))]
    if start:
        parts[0] += f"@{start:g}"
    return "+".join(parts)


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


def plot_chains(chains: dict[str, str], out: str) -> None:
    """One line per model (``{label: load_chain spec}``) at the pixels seen, as the gain over its first
    checkpoint (models 6 dB apart share one axis): circles for runs of the paper's 32 x 48x48 batch (the CPU
    stages), squares for larger batches (the GPU slots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    evaluated_on = set()
    for (label, spec), colour in zip(chains.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4):
        base = None
        for x, values, config, drawn in load_chain(spec):
            if not drawn:
                continue
            large = step_pixels(config) > PAPER_STEP_PIXELS
            name = None if base is not None else f"{label} (from {values[0]:.2f} dB)"
            base = values[0] if base is None else base
            axis.plot(
                x,
                [v - base for v in values],
                color=colour,
                marker="s" if large else "o",
                markersize=3.5 if large else 3,
                linewidth=1.2,
                label=name,
            )
            evaluated_on.add(evaluation_images_label(config))
    axis.set_xscale("log", base=2)
    axis.set_xlabel("pixels seen, in steps of 32 x 48x48 patches (log scale; squares: larger batches, e.g. 64 x 96x96)")
    axis.set_ylabel("PSNR gain (dB), " + (evaluated_on.pop() if len(evaluated_on) == 1 else "see each run"))
    axis.axhline(0.0, color="gray", linewidth=0.8)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic.save_figure(figure, out)
