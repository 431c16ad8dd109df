"""Real camera noise (the paper's Sec. IV-C): PSNR/SSIM on Nam25 and PolyU100, a picture grid on RNI15.

    python -m tools.evaluate_realnoise --out docs/realnoise

1. Paired sets (``real_pairs.PAIRED_SETS``: noisy photo + ground truth = mean of many shots): mean PSNR / SSIM
   against the ground truth of the noisy photo, CBM3D given the estimated sigma (``noise.estimate_sigma``, the
   same estimate ``--sigma auto`` uses), ours with ``--sigma auto`` (``shipped.choose_model_for_sigma``),
   the blind model, and every per-sigma model; "best fixed" marks the per-sigma model best on that set
   (an oracle choice: it looks at the ground truth).
2. RNI15 (no ground truth): ``<out>/rni15_grid.jpg``, each photo's thumbnail with a box and that box zoomed,
   noisy / CBM3D (estimated sigma) / ours (auto), as the paper's Fig. 7 does for DND.

Results are saved after every image in ``<out>/results.json``, keyed by each model file's hash, so an
interrupted run resumes and a newly shipped model is measured afresh; ``<out>/results.md`` is the table.
"auto" is the per-sigma or blind model that the rule picks for each image, so its entry is that model's own.
"""

from __future__ import annotations

import os
import time

import numpy as np
from absl import app, flags
from tqdm import tqdm

from keras_semdenoise import atomic, evaluation, imageio, noise
from keras_semdenoise.data import real_pairs
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import cbm3d
from keras_semdenoise.evaluation.realnoise import markdown, measure_pairs
from keras_semdenoise.models import shipped

FLAGS = flags.FLAGS
flags.DEFINE_string("data_root", None, "Data folder (default: ../shared/data or $SEMDENOISE_DATA_DIR).")
flags.DEFINE_list("sets", list(real_pairs.PAIRED_SETS), "Paired real-noise sets to measure.")
flags.DEFINE_integer("limit", 0, "Use only the first N pairs of each set (0: all).")
flags.DEFINE_boolean("cbm3d", True, "Also run CBM3D (about 20-40 s per 512x512 image on 2 cores).")
flags.DEFINE_integer(
    "cbm3d_limit",
    12,
    "CBM3D on the first N pairs of each set only (0: all); the table compares ours with it on those same pairs.",
)
flags.DEFINE_boolean("grid", True, "Also make the RNI15 picture grid.")
flags.DEFINE_integer("crop", 96, "Side of the zoomed box in the RNI15 grid (pixels of the photo).")
flags.DEFINE_enum("precision", "bf16", ["bf16", "fp32"], "Inference precision (bf16: within 0.01 dB, docs/precision).")
flags.DEFINE_string("models_dir", None, "Folder of the shipped models (default: shipped.models_dir()).")
flags.DEFINE_string("out", "docs/realnoise", "Output folder.")


def rni15_grid(
    root: str,
    models: dict[str, str],
    folder: str,
    precision: str,
    crop: int,
    out_path: str,
    with_cbm3d: bool,
    cache_dir: str,
) -> list[dict]:
    """Writes the RNI15 grid (JPEG) and returns ``[{"id", "estimate", "model", "seconds"}]`` per photo.

    Rows are photos; columns: the whole photo with the box, then the box zoomed from the noisy photo, CBM3D
    and ours (auto). The box is the ``crop``-pixel square of the most local detail (highest gradient energy
    of ours, so flat sky is not what is shown). Denoised photos are cached as PNG in ``cache_dir``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    photos = real_pairs.photos(root)
    os.makedirs(cache_dir, exist_ok=True)
    loaded, rows = {}, []
    for image_id, path in tqdm(photos, desc="RNI15", unit="photo"):
        noisy = imageio.load_image(path).pixels
        estimate = noise.estimate_sigma(noisy)
        name = shipped.auto_choice_name(estimate, folder=folder)
        model_path = models[name]
        outputs = {"noisy": noisy}
        for method in ("ours", "cbm3d") if with_cbm3d else ("ours",):
            tag = (
                f"{name}-{evaluation.file_identity(model_path).rsplit(':', 1)[1][:8]}"
                if method == "ours"
                else f"{estimate:.3f}"
            )
            cached = os.path.join(cache_dir, f"{image_id}.{method}.{tag}.{precision}.png")
            if os.path.exists(cached):
                outputs[method] = imageio.load_image(cached).pixels
                continue
            start = time.perf_counter()
            if method == "ours":
                if name not in loaded:
                    loaded[name] = inference.load_denoiser(model_path, precision=precision)
                result = inference.denoise(loaded[name], noisy)
            else:
                result = cbm3d.cbm3d_denoise(noisy, estimate)
            outputs[method] = np.clip(result, 0.0, 1.0)
            imageio.save_png(cached, outputs[method])
            print(f"{image_id} {method}: {time.perf_counter() - start:.1f} s")
        rows.append({"id": image_id, "estimate": estimate, "model": name, "outputs": outputs})
    columns = (
        ["photo", "noisy", "CBM3D (est. sigma)", "ours (--sigma auto)"]
        if with_cbm3d
        else ["photo", "noisy", "ours (--sigma auto)"]
    )
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 2.6 * len(rows)))
    for r, row in enumerate(rows):
        ours = row["outputs"]["ours"]
        y, x = _busiest_box(ours, crop)
        axes[r, 0].imshow(np.clip(row["outputs"]["noisy"], 0, 1))
        axes[r, 0].add_patch(patches.Rectangle((x, y), crop, crop, fill=False, edgecolor="yellow", linewidth=1.5))
        axes[r, 0].set_ylabel(f"{row['id']}\nest. sigma {row['estimate']:.1f}\n{row['model']}", fontsize=8)
        keys = ["noisy", "cbm3d", "ours"] if with_cbm3d else ["noisy", "ours"]
        for c, key in enumerate(keys, start=1):
            axes[r, c].imshow(np.clip(row["outputs"][key][y : y + crop, x : x + crop], 0, 1), interpolation="nearest")
        for c in range(len(columns)):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(columns[c], fontsize=10)
    figure.tight_layout()
    atomic.save_figure(figure, out_path, dpi=70, pil_kwargs={"quality": 85})
    plt.close(figure)
    return [{"id": r["id"], "estimate": r["estimate"], "model": r["model"]} for r in rows]


def _busiest_box(image: np.ndarray, crop: int) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the ``crop`` square with the most gradient energy (on a stride of crop/4)."""
    grey = image.mean(axis=-1)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    height, width = energy.shape
    crop = min(crop, height, width)
    step = max(1, crop // 4)
    best, where = -1.0, (0, 0)
    for y in range(0, height - crop + 1, step):
        for x in range(0, width - crop + 1, step):
            score = float(energy[y : y + crop, x : x + crop].sum())
            if score > best:
                best, where = score, (y, x)
    return where


def main(argv):
    del argv
    root = FLAGS.data_root or default_data_root()
    folder = FLAGS.models_dir or shipped.models_dir()
    models = shipped.shipped_by_name(folder)
    if not models:
        raise app.UsageError(f"no shipped model in {folder}")
    os.makedirs(FLAGS.out, exist_ok=True)
    command = (
        "python -m tools.evaluate_realnoise --out "
        + FLAGS.out
        + ("" if FLAGS.cbm3d else " --nocbm3d")
        + (f" --limit {FLAGS.limit}" if FLAGS.limit else "")
        + f" --cbm3d_limit {FLAGS.cbm3d_limit}"
    )
    state = measure_pairs(
        root,
        FLAGS.sets,
        FLAGS.limit,
        models,
        folder,
        FLAGS.precision,
        FLAGS.cbm3d,
        os.path.join(FLAGS.out, "results.json"),
        FLAGS.cbm3d_limit,
    )
    text = markdown(state, command)
    if FLAGS.grid:
        picks = rni15_grid(
            root,
            models,
            folder,
            FLAGS.precision,
            FLAGS.crop,
            os.path.join(FLAGS.out, "rni15_grid.jpg"),
            FLAGS.cbm3d,
            os.path.join("runs", "realnoise_rni15"),
        )
        text += (
            "\n## RNI15 (no ground truth)\n\n![RNI15: noisy, CBM3D, ours](rni15_grid.jpg)\n\n"
            "Estimated sigma and model per photo: "
            + ", ".join(f"{p['id']} {p['estimate']:.1f} ({p['model']})" for p in picks)
            + ".\n"
        )
    atomic.write_text(os.path.join(FLAGS.out, "results.md"), text)
    print(text)


if __name__ == "__main__":
    app.run(main)
