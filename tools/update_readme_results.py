"""Rewrite the README's results block from the measured files, so the README never drifts from them.

    python -m tools.update_readme_results   # after tools.evaluate_denoiser --out docs/evaluation

Replaces the text between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in README.md with
the shipped models (saved_models/MODELS.json: steps, hardware, start point), the learned peers trained
here (saved_models/peers/MODELS.json, when there), and the per-set mean tables of
docs/evaluation/results.json (CBM3D from the same run, the paper's numbers beside, seconds per megapixel).
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from keras_semdenoise import atomic, evaluation
from keras_semdenoise.models import shipped
from keras_semdenoise.training.separate import ARCHITECTURES

FLAGS = flags.FLAGS
flags.DEFINE_string("readme", "README.md", "README to update.")
flags.DEFINE_string("results", "docs/evaluation/results.json", "results.json of tools.evaluate_denoiser.")
flags.DEFINE_string("models", None, "MODELS.json (default: the shipped models folder's).")
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


def results_block(index: dict, state: dict, peers: dict | None = None) -> str:
    return "\n".join(
        [
            BEGIN,
            "Shipped models (`saved_models/MODELS.json`; each model's curve is in `saved_models/<name>.history.json`"
            " where the run was kept):",
            "",
            models_table(index, peers),
            "",
            "Steps count batches of whatever size each run used; the cell names the last run's batch where it was "
            "recorded (a GPU step of 64 x 96x96 patches holds 8 times the pixels of a CPU step of 32 x 48x48).",
            "",
            evaluation.markdown_tables(state, per_image=False).rstrip(),
            "",
            "Per-image PSNR: [docs/evaluation/results.md](docs/evaluation/results.md).",
            END,
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
    with open(FLAGS.results) as handle:
        state = json.load(handle)
    with open(FLAGS.readme) as handle:
        text = handle.read()
    try:
        updated = replace_block(text, results_block(index, state, peers))
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    atomic.write_text(FLAGS.readme, updated)
    print(f"updated {FLAGS.readme}")


if __name__ == "__main__":
    app.run(main)
