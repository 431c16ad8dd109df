"""How much of a denoiser's PSNR rides on its batch norm statistics: re-estimated on training batches of other
shapes (no weight changed), then measured on the validation images.

    python -m experiments.probes.batch_norm --model saved_models/denoiser_sigma50.keras --sigma 50 \
        --batches 32x48:300,8x96:300 --out experiments/probes/batch_norm_results

Each ``BATCHxPATCH:COUNT`` re-estimates the moving statistics from the shipped ones' place as the plain mean over
COUNT batches of noisy training patches (``experiments.probes.batch_norm_stats.reestimate``), measures the validation PSNR (the
16 held-out CBSD432 images, as training's checkpoints), and puts the shipped statistics back. Writes
``results.json`` and ``results.md``.
"""

from __future__ import annotations

import os
import time

from absl import app, flags

from experiments.probes import batch_norm_stats as batch_norm
from keras_semdenoise import atomic, evaluation
from keras_semdenoise.data import patches
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.deploy import inference

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras denoiser.", required=True)
flags.DEFINE_float("sigma", None, "Noise level (0..255) of the batches and the validation.", required=True)
flags.DEFINE_list("batches", ["32x48:300", "8x96:300"], "BATCHxPATCH:COUNT, one re-estimation each.")
flags.DEFINE_string("data_dir", None, "Training images (default: CBSD432 under the data root).")
flags.DEFINE_integer("seed", 5, "Seed of the patches and their noise.")
flags.DEFINE_string("out", "experiments/probes/batch_norm_results", "Output folder (results.json, results.md).")


def parse_batches(specs: list[str]) -> list[tuple[int, int, int]]:
    """``["32x48:300"]`` -> ``[(32, 48, 300)]``; ValueError on anything else."""
    parsed = []
    for spec in specs:
        try:
            shape, count = spec.split(":")
            batch, patch = shape.split("x")
            parsed.append((int(batch), int(patch), int(count)))
        except ValueError:
            raise ValueError(f"--batches {spec!r}: give BATCHxPATCH:COUNT, e.g. 32x48:300") from None
        if min(parsed[-1]) < 1:
            raise ValueError(f"--batches {spec!r}: every number must be >= 1")
    return parsed


def main(argv):
    del argv
    try:
        plans = parse_batches(FLAGS.batches)
        sources = patches.parse_sources(FLAGS.data_dir or os.path.join(default_data_root(), "CBSD432"))
        validation = patches.validation_images(sources, 16)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    model = inference.load_denoiser(FLAGS.model)
    shipped = batch_norm.moving_statistics(model)

    def measure() -> float:
        return evaluation.mean_psnr(evaluation.denoiser_method(model), validation, FLAGS.sigma)

    base = measure()
    rows = []
    for batch, patch, count in plans:
        data = patches.PatchDataset(
            sources, patch_size=patch, batch_size=batch, sigma_255=FLAGS.sigma, steps_per_epoch=count, seed=FLAGS.seed
        )
        start = time.time()
        batch_norm.reestimate(model, (data[i][0] for i in range(count)))
        psnr = measure()
        batch_norm.set_moving_statistics(model, shipped)
        rows.append(
            {
                "batch_size": batch,
                "patch_size": patch,
                "batches": count,
                "psnr": psnr,
                "change": psnr - base,
                "seconds": time.time() - start,
            }
        )
        print(f"{batch} x {patch}x{patch}, {count} batches: {psnr:.4f} dB ({psnr - base:+.4f})", flush=True)
    result = {
        "model": FLAGS.model,
        "model_identity": evaluation.file_identity(FLAGS.model),
        "sigma": FLAGS.sigma,
        "validation_images": len(validation),
        "shipped_psnr": base,
        "reestimated": rows,
        "machine": evaluation.machine_description(),
    }
    os.makedirs(FLAGS.out, exist_ok=True)
    atomic.write_json(os.path.join(FLAGS.out, "results.json"), result)
    lines = [
        f"# Batch norm statistics of `{FLAGS.model}` re-estimated (sigma {FLAGS.sigma:g})",
        "",
        f"Validation PSNR ({len(validation)} held-out CBSD432 images) with the moving statistics as shipped, "
        "and re-estimated as the plain mean over training batches of each shape (no weight changed; "
        "`python -m experiments.probes.batch_norm`).",
        "",
        f"Model: {result['model_identity']}.",
        "",
        "| statistics | PSNR (dB) | change (dB) |",
        "|---|---:|---:|",
        f"| as shipped | {base:.4f} | |",
    ]
    lines += [
        f"| {r['batches']} batches of {r['batch_size']} x {r['patch_size']}x{r['patch_size']} | "
        f"{r['psnr']:.4f} | {r['change']:+.4f} |"
        for r in rows
    ]
    atomic.write_text(os.path.join(FLAGS.out, "results.md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
