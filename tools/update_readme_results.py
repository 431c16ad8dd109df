"""Rewrite the README's results table and the models page from the measured files, so neither drifts from them.

    python -m tools.update_readme_results   # after tools.evaluate_denoiser --out docs/evaluation

Replaces the text between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in README.md with one table at
the paper's noise levels (15 / 25 / 50) on CBSD68 and Kodak24: the noisy input, CBM3D, our shipped models and the
peers trained here (measured: docs/evaluation/results.json), then the published peers' and the paper's figures
(``evaluation.paper``). Writes docs/models.md: the shipped models (saved_models/MODELS.json: steps, hardware,
start point) and the learned peers trained here (saved_models/peers/MODELS.json, when there).
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from keras_semdenoise import atomic
from keras_semdenoise.evaluation import paper
from keras_semdenoise.models import shipped
from keras_semdenoise.training.separate import ARCHITECTURES

FLAGS = flags.FLAGS
flags.DEFINE_string("readme", "README.md", "README to update.")
flags.DEFINE_string("results", "docs/evaluation/results.json", "results.json of tools.evaluate_denoiser.")
flags.DEFINE_string("models", None, "MODELS.json (default: the shipped models folder's).")
flags.DEFINE_string("models_page", "docs/models.md", "The models page to write.")
flags.DEFINE_string(
    "peers_results",
    "docs/peers_published/results.json",
    "The published peers' weights measured here (experiments.peers_published.measure), merged in where present.",
)
flags.DEFINE_string(
    "peers",
    None,
    f"MODELS.json of the peers trained here (default: the shipped models folder's {shipped.PEERS_FOLDER}/, if there).",
)

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def models_table(index: dict, peers: dict | None = None) -> str:
    """Markdown table of shipped models (then ``peers``' models, files under ``shipped.PEERS_FOLDER``): network, what
    each was trained on, for how long, on what."""
    lines = [
        "| model | network | noise | steps (total) | started from | data | precision | last run's time | "
        "eval PSNR at ship (dB) | hardware |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(entry["file"], entry) for _, entry in sorted(index.items())]
    rows += [(f"{shipped.PEERS_FOLDER}/{entry['file']}", entry) for _, entry in sorted((peers or {}).items())]
    for file_name, entry in rows:
        noise_text = (
            f"blind, sigma in [{entry['sigma_range'][0]:g}, {entry['sigma_range'][1]:g}]"
            if entry.get("sigma_range")
            else f"sigma {entry['sigma']:g}"
        )
        steps = f"{entry['steps_trained']:,}"
        about_last = []
        if entry.get("steps_this_run") and entry["steps_this_run"] != entry["steps_trained"]:
            about_last.append(f"{entry['steps_this_run']:,} in its last run")
        if entry.get("batch_size") and entry.get("patch_size"):  # a GPU step holds more pixels than a CPU step
            about_last.append(f"batch {entry['batch_size']} of {entry['patch_size']}x{entry['patch_size']}")
        if about_last:
            steps += f" ({', '.join(about_last)})"
        psnr = f"{entry['eval_psnr_db']:.2f} ({entry['eval']})" if entry.get("eval_psnr_db") else ""
        seconds = entry.get("train_seconds")
        duration = (
            "not logged" if not seconds else f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
        )
        precision = "bf16 (mixed)" if "bfloat16" in entry.get("precision", "") else "fp32"
        network = ARCHITECTURES.get(entry.get("architecture") or "multiscale", entry.get("architecture"))
        lines.append(
            f"| `{file_name}` | {network} | {noise_text} | {steps} | {entry.get('init_from') or 'scratch'} | "
            f"{entry.get('data') or 'CBSD432'} | {precision} | {duration} | {psnr} | "
            f"{entry.get('hardware', '')} |"
        )
    return "\n".join(lines)


SETS, LEVELS = ("CBSD68", "Kodak24"), (15, 25, 50)


def _value(by_sigma: dict, level: int, method: str) -> float | None:
    cell = by_sigma.get(f"{level:g}", by_sigma.get(f"{float(level)}", {})).get(method)
    return cell.get("mean_psnr") if cell else None


def _cell(by_sigma: dict, level: int, method: str) -> str:
    value = _value(by_sigma, level, method)
    return "" if value is None else f"{value:.2f}"


def results_block(state: dict) -> str:
    """The README's one results table: mean PSNR (dB) per set and level, measured rows then published ones."""
    header = " | ".join(f"{name} {level}" for name in SETS for level in LEVELS)
    lines = [
        BEGIN,
        f"| mean PSNR (dB), sigma | {header} |",
        "| --- |" + " --- |" * (len(SETS) * len(LEVELS)),
    ]
    methods = []
    for name in SETS:
        for by_method in state["results"].get(name, {}).values():
            methods += [m for m in by_method if m not in methods]
    for method in methods:
        cells = [_cell(state["results"].get(name, {}), level, method) for name in SETS for level in LEVELS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for peer, figures in paper.PUBLISHED_PEERS.items():
        cells = [
            f"{figures[name][level]:.2f}" if level in figures.get(name, {}) else "" for name in SETS for level in LEVELS
        ]
        lines.append(f"| {peer} (published figures) | " + " | ".join(cells) + " |")
    for method, by_set in ((m, {n: paper.PSNR[n][m] for n in SETS}) for m in paper.PSNR[SETS[0]]):
        cells = [f"{by_set[name][level]:.2f}" if level in by_set[name] else "" for name in SETS for level in LEVELS]
        lines.append(f"| paper: {method} | " + " | ".join(cells) + " |")
    lines += ["", *differences_table(state), ""]
    lines += [
        f"Measured here: {state['protocol']}. Every level, SSIM, per-image figures and times: "
        "[docs/evaluation/results.md](docs/evaluation/results.md); the models: [docs/models.md](docs/models.md).",
        END,
    ]
    return "\n".join(lines)


OURS = "Proposed (ours)"


MEASURED_PEER = "(published weights)"  # the row names of the published peers measured here


def load_state(results_path: str, peers_results_path: str | None = None) -> dict:
    """The evaluation's state (``results.json``), with the published peers' measured cells merged in from
    ``peers_results_path`` where that file exists (same protocol, other run)."""
    with open(results_path) as handle:
        state = json.load(handle)
    if peers_results_path and os.path.exists(peers_results_path):
        with open(peers_results_path) as handle:
            measured = json.load(handle)["results"]
        for name, by_sigma in measured.items():
            for sigma, by_method in by_sigma.items():
                key = f"{float(sigma):g}"
                state["results"].setdefault(name, {}).setdefault(key, {}).update(by_method)
    return state


def differences_table(state: dict) -> list[str]:
    """Where the shipped per-sigma models stand: ours minus CBM3D (measured in the same run) and minus each
    published peer's published figure, per set and level (dB; empty where a figure is missing)."""

    def ours(name: str, level: int) -> float | None:
        return _value(state["results"].get(name, {}), level, OURS)

    header = " | ".join(f"{name} {level}" for name in SETS for level in LEVELS)
    lines = [f"| {OURS} minus | {header} |", "| --- |" + " --- |" * (len(SETS) * len(LEVELS))]
    measured = ["CBM3D"]
    for by_sigma in state["results"].values():
        for by_method in by_sigma.values():
            measured += [m for m in by_method if m.endswith(MEASURED_PEER) and m not in measured]
    others = {}
    for method in measured:
        label = f"{method}, measured here" if method.endswith(MEASURED_PEER) else f"{method} (measured here)"
        for name in SETS:
            for level in LEVELS:
                value = _value(state["results"].get(name, {}), level, method)
                if value is not None:
                    others.setdefault(label, {}).setdefault(name, {})[level] = value
    for peer, figures in paper.PUBLISHED_PEERS.items():
        others[f"{peer} (published figures)"] = figures
    for label, figures in others.items():
        cells = []
        for name in SETS:
            for level in LEVELS:
                mine, theirs = ours(name, level), figures.get(name, {}).get(level)
                cells.append("" if mine is None or theirs is None else f"{mine - theirs:+.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def models_page(index: dict, peers: dict | None = None) -> str:
    """docs/models.md: where each shipped model (and peer trained here) came from."""
    return "\n".join(
        [
            "# Shipped models",
            "",
            "Generated by `python -m tools.update_readme_results` from `saved_models/MODELS.json` (and "
            "`saved_models/peers/MODELS.json`); each model's validation curve is `saved_models/<name>.history.json`.",
            "",
            models_table(index, peers),
            "",
            "Steps count batches of whatever size each run used; the cell names the last run's batch where it was "
            "recorded (a GPU step of 64 x 96x96 patches holds 8 times the pixels of a CPU step of 32 x 48x48).",
            "",
        ]
    )


def replace_block(text: str, block: str) -> str:
    """``text`` with the part from BEGIN to END replaced by ``block``; ValueError if the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {BEGIN} ... {END} block")
    return text[:start] + block + text[end + len(END) :]


def main(argv):
    del argv
    with open(FLAGS.models or os.path.join(shipped.models_dir(), "MODELS.json")) as handle:
        index = json.load(handle)
    peers_path = FLAGS.peers or os.path.join(shipped.models_dir(), shipped.PEERS_FOLDER, "MODELS.json")
    peers = {}
    if os.path.exists(peers_path):
        with open(peers_path) as handle:
            peers = json.load(handle)
    state = load_state(FLAGS.results, FLAGS.peers_results)
    with open(FLAGS.readme) as handle:
        text = handle.read()
    try:
        updated = replace_block(text, results_block(state))
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    atomic.write_text(FLAGS.readme, updated)
    atomic.write_text(FLAGS.models_page, models_page(index, peers))
    print(f"updated {FLAGS.readme} and {FLAGS.models_page}")


if __name__ == "__main__":
    app.run(main)
