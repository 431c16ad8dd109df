"""Measures the noise-level estimator and the rule that turns its estimate into a model (``--sigma auto``).

    python -m tools.evaluate_sigma_auto --out docs/sigma_auto

1. Estimator (``noise.estimate_sigma``) on CBSD68 with known sigma (seeded noise) and on the real-noise
   pairs of ``realnoise/`` (Nam25, PolyU100), where the reference level is the std of noisy - ground truth.
2. Every shipped model (per-sigma and blind) on every test image: CBSD68 (first ``--images``) at on- and
   off-grid sigmas, and the real-noise pairs; then each rule of ``shipped.AUTO_RULES`` picks one model per
   image from the image's own estimate, and its mean PSNR is reported, beside the best fixed model.
Writes ``<out>/results.json`` (resumable: each image x model cell is saved as it is done) and
``<out>/results.md``. Inference runs in ``--precision`` (bf16 by default: within 0.01 dB of fp32, docs/precision).
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags
from tqdm import tqdm

from keras_semdenoise import atomic, evaluation, imageio, metrics, noise
from keras_semdenoise.data import images as image_data
from keras_semdenoise.data import real_pairs
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import shipped

FLAGS = flags.FLAGS
flags.DEFINE_string("data_root", None, "Data folder (default: ../shared/data or $SEMDENOISE_DATA_DIR).")
flags.DEFINE_integer("images", 8, "CBSD68 images per synthetic sigma (the first N).")
flags.DEFINE_list("sigmas", ["5", "10", "15", "20", "25", "35", "45", "50", "65", "75"], "Synthetic noise levels.")
flags.DEFINE_list("real_sets", ["Nam25", "PolyU100"], "Real-noise sets with ground truth (under realnoise/).")
flags.DEFINE_integer("real_limit", 0, "Use only the first N pairs of each real set (0: all).")
flags.DEFINE_enum("precision", "bf16", ["bf16", "fp32"], "Inference precision.")
flags.DEFINE_string("out", "docs/sigma_auto", "Output folder.")


def markdown(state: dict, rules, model_names) -> str:
    lines = [
        "# `--sigma auto`: estimator and model choice",
        "",
        "Made by `python -m tools.evaluate_sigma_auto` (see its docstring). Estimator: "
        "`noise.estimate_sigma` (wavelet MAD, Donoho & Johnstone 1994). PSNR as in `docs/evaluation` "
        f"({evaluation.PROTOCOL}); inference in {state['precision']}.",
        "",
        "## Estimator on known noise",
        "",
        "| set | true sigma | mean estimate | std of estimate | images |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in state["estimator"]:
        lines.append(f"| {row['set']} | {row['true']:.2f} | {row['mean']:.2f} | {row['std']:.2f} | {row['count']} |")
    lines += [
        "",
        "For the real sets, 'true sigma' is the mean std of (noisy - ground truth) on the 0..255 scale.",
        "",
        "## Mean PSNR (dB) of each choice",
        "",
        "| test | "
        + " | ".join(f"fixed {m}" for m in model_names)
        + " | "
        + " | ".join(f"auto: {r}" for r in rules)
        + " |",
        "| --- |" + " --- |" * (len(model_names) + len(rules)),
    ]
    for group, cells in state["groups"].items():
        ids = sorted(cells)
        row = [f"{np.mean([cells[i]['psnr'][m] for i in ids]):.2f}" for m in model_names]
        row += [f"{np.mean([cells[i]['psnr'][cells[i]['choice'][r]] for i in ids]):.2f}" for r in rules]
        lines.append(f"| {group} ({len(ids)} images) | " + " | ".join(row) + " |")
    lines += [
        "",
        f"Rule used by `--sigma auto`: **{shipped.AUTO_RULE}** (`shipped.AUTO_RULE`; thresholds "
        f"SNAP_SIGMA = {shipped.SNAP_SIGMA:g}, LOW_ESTIMATE = {shipped.LOW_ESTIMATE:g}). The thresholds were "
        "chosen on these same images (no separate validation split of real noise exists here), so the "
        "'snap' column is a fitted figure, not a held-out one.",
    ]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    root = FLAGS.data_root or default_data_root()
    folder = shipped.models_dir()
    models = shipped.shipped_by_name(folder)
    results_path = os.path.join(FLAGS.out, "results.json")
    state = evaluation.store.load(results_path) or {}
    identities = {name: evaluation.file_identity(path) for name, path in models.items()}
    if state.get("models") != identities or state.get("precision") != FLAGS.precision:
        state = {"models": identities, "precision": FLAGS.precision, "groups": {}}
    loaded = {}

    def model(name):
        if name not in loaded:
            loaded[name] = inference.load_denoiser(models[name], precision=FLAGS.precision)
        return loaded[name]

    clean_set = image_data.evaluation_images(os.path.join(root, "CBSD68"))
    estimator = []
    for sigma in (float(s) for s in FLAGS.sigmas):
        estimates = [noise.estimate_sigma(noise.add_seeded_gaussian_noise(c, sigma, n)) for n, c in clean_set]
        estimator.append(
            {
                "set": "CBSD68",
                "true": sigma,
                "mean": float(np.mean(estimates)),
                "std": float(np.std(estimates)),
                "count": len(estimates),
            }
        )
    tests = []  # (group, id, noisy, clean)
    for sigma in (float(s) for s in FLAGS.sigmas):
        for name, clean in clean_set[: FLAGS.images]:
            tests.append((f"CBSD68 sigma {sigma:g}", name, noise.add_seeded_gaussian_noise(clean, sigma, name), clean))
    for set_name in FLAGS.real_sets:
        true, estimates = [], []
        for pair_id, noisy_path, clean_path in real_pairs.pairs(root, set_name, FLAGS.real_limit):
            noisy, clean = imageio.load_image(noisy_path).pixels, imageio.load_image(clean_path).pixels
            true.append(float(np.std(noisy - clean) * 255.0))
            estimates.append(noise.estimate_sigma(noisy))
            tests.append((f"{set_name} (real)", pair_id, noisy, clean))
        estimator.append(
            {
                "set": set_name,
                "true": float(np.mean(true)),
                "mean": float(np.mean(estimates)),
                "std": float(np.std(estimates)),
                "count": len(estimates),
            }
        )
    state["estimator"] = estimator
    for group, image_id, noisy, clean in tqdm(tests, desc="images", unit="image"):
        cell = state["groups"].setdefault(group, {}).setdefault(image_id, {"psnr": {}})
        for name in models:
            if name not in cell["psnr"]:
                denoised = inference.denoise(model(name), noisy)
                cell["psnr"][name] = metrics.psnr_uint8(clean, denoised)
        cell["estimate"] = noise.estimate_sigma(noisy)
        cell["choice"] = {rule: shipped.auto_choice_name(cell["estimate"], rule, folder) for rule in shipped.AUTO_RULES}
        atomic.write_json(results_path, state)
    text = markdown(state, shipped.AUTO_RULES, list(models))
    atomic.write_text(os.path.join(FLAGS.out, "results.md"), text)
    print(text)


if __name__ == "__main__":
    app.run(main)
