"""Real camera noise (the paper's Sec. IV-C): PSNR/SSIM on Nam25 and PolyU100, a picture grid on RNI15.

    python -m tools.evaluate_realnoise --out docs/realnoise

1. Paired sets (``realnoise.PAIRED_SETS``: noisy photo + ground truth = mean of many shots): mean PSNR / SSIM
   against the ground truth of the noisy photo, CBM3D given the estimated sigma (``noise.estimate_sigma``, the
   same estimate ``--sigma auto`` uses), ours with ``--sigma auto`` (``shipping.choose_model_for_sigma``),
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

from keras_semdenoise import atomic, baselines, evaluation, imageio, inference, noise, shipping
from keras_semdenoise.data import realnoise
from keras_semdenoise.data.roots import default_data_root

FLAGS = flags.FLAGS
flags.DEFINE_string("data_root", None, "Data folder (default: ../shared/data or $SEMDENOISE_DATA_DIR).")
flags.DEFINE_list("sets", list(realnoise.PAIRED_SETS), "Paired real-noise sets to measure.")
flags.DEFINE_integer("limit", 0, "Use only the first N pairs of each set (0: all).")
flags.DEFINE_boolean("cbm3d", True, "Also run CBM3D (about 20-40 s per 512x512 image on 2 cores).")
flags.DEFINE_integer("cbm3d_limit", 12, "CBM3D on the first N pairs of each set only (0: all); the table "
                     "compares ours with it on those same pairs.")
flags.DEFINE_boolean("grid", True, "Also make the RNI15 picture grid.")
flags.DEFINE_integer("crop", 96, "Side of the zoomed box in the RNI15 grid (pixels of the photo).")
flags.DEFINE_enum("precision", "bf16", ["bf16", "fp32"], "Inference precision (bf16: within 0.01 dB, docs/precision).")
flags.DEFINE_string("models_dir", None, "Folder of the shipped models (default: shipping.models_dir()).")
flags.DEFINE_string("out", "docs/realnoise", "Output folder.")

NOISY, CBM3D, AUTO = "noisy (no denoising)", "CBM3D (estimated sigma)", "ours: --sigma auto"


def _cbm3d_identity() -> str:
    from importlib import metadata

    return f"bm3d {metadata.version('bm3d')}, sigma = noise.estimate_sigma"


def measure_pairs(root: str, sets: list[str], limit: int, models: dict[str, str], folder: str, precision: str,
                  with_cbm3d: bool, results_path: str, cbm3d_limit: int = 0) -> dict:
    """Fills ``results.json``: ``{"results": {set: {method: {"identity", "images": {id: {"psnr", "ssim",
    "seconds"[, "model"]}}}}}, "estimates": {set: {id: sigma_255}}}`` and returns it."""
    state = evaluation.store.load(results_path)
    state.update(machine=evaluation.machine_description(), precision=precision)
    identities = {NOISY: "identity"}
    if with_cbm3d:
        identities[CBM3D] = _cbm3d_identity()
    identities.update({name: f"{evaluation.file_identity(path)}, {precision}" for name, path in models.items()})
    loaded = {}

    def run(method: str, noisy: np.ndarray, sigma: float) -> np.ndarray:
        if method == NOISY:
            return noisy
        if method == CBM3D:
            return baselines.cbm3d_denoise(noisy, sigma)
        if method not in loaded:
            loaded[method] = inference.load_denoiser(models[method], precision=precision)
        return inference.denoise(loaded[method], noisy)

    for set_name in sets:
        pairs = realnoise.pairs(root, set_name, limit)
        cells = state.setdefault("results", {}).setdefault(set_name, {})
        estimates = state.setdefault("estimates", {}).setdefault(set_name, {})
        for method, identity in identities.items():
            if cells.get(method, {}).get("identity") != identity:
                cells[method] = {"identity": identity, "images": {}}
        for index, (image_id, noisy_path, clean_path) in enumerate(tqdm(pairs, desc=set_name, unit="image")):
            noisy, clean = imageio.load_image(noisy_path).pixels, imageio.load_image(clean_path).pixels
            estimates[image_id] = noise.estimate_sigma(noisy)
            for method in identities:
                if image_id in cells[method]["images"] or (method == CBM3D and cbm3d_limit and index >= cbm3d_limit):
                    continue
                # The tables' per-image measurement: PSNR / SSIM of the 8-bit output, seconds, pixels.
                cells[method]["images"][image_id] = evaluation.measure(
                    lambda image, sigma, method=method: run(method, image, sigma), noisy, clean, estimates[image_id],
                    with_ssim=True)
                atomic.write_json(results_path, state)
        chosen = {}
        for image_id, _, _ in pairs:
            name = shipping.auto_choice_name(estimates[image_id], folder=folder)
            chosen[image_id] = dict(cells[name]["images"][image_id], model=name)
        cells[AUTO] = {"identity": f"rule {shipping.AUTO_RULE} over {sorted(identities)}", "images": chosen}
        atomic.write_json(results_path, state)
    return state


def _mean(cell: dict, key: str) -> float:
    return float(np.mean([entry[key] for entry in cell["images"].values()]))


def markdown(state: dict, command: str) -> str:
    """The PSNR / SSIM table (methods x sets), with the best fixed per-sigma model marked."""
    sets = list(state["results"])
    lines = ["# Real camera noise: Nam25 and PolyU100", "",
             f"Made by `{command}` ({state['machine']}; inference in {state['precision']}). PSNR (dB) / SSIM "
             "against the ground truth (mean of many shots), whole 512x512 images, RGB jointly, 8-bit. CBM3D is "
             "given the noise level estimated by `noise.estimate_sigma` (wavelet MAD), as `--sigma auto` is. "
             "'best fixed' is the per-sigma model with the best mean on that set: an oracle choice.", "",
             "| method | " + " | ".join(f"{s} ({len(state['estimates'][s])} pairs)" for s in sets)
             + " | seconds / image |", "| --- |" + " --- |" * (len(sets) + 1)]
    methods = list(dict.fromkeys(m for s in sets for m in state["results"][s]))
    best = {}
    for s in sets:
        fixed = [m for m in state["results"][s] if m.startswith("sigma")]
        best[s] = max(fixed, key=lambda m: _mean(state["results"][s][m], "psnr")) if fixed else None
    for method in methods:
        cells, seconds = [], []
        for s in sets:
            cell = state["results"][s].get(method)
            if not cell or not cell["images"]:
                cells.append("")
                continue
            mark = " (best fixed)" if method == best[s] else ""
            if len(cell["images"]) < len(state["estimates"][s]):
                mark += f" ({len(cell['images'])} pairs)"
            cells.append(f"{_mean(cell, 'psnr'):.2f} / {_mean(cell, 'ssim'):.4f}{mark}")
            seconds.append(_mean(cell, "seconds"))
        if seconds:
            label = method if method in (NOISY, CBM3D, AUTO) else f"ours: {method} model"
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {np.mean(seconds):.2f} |")
    for s in sets:
        theirs = state["results"][s].get(CBM3D, {}).get("images", {})
        ours = state["results"][s].get(AUTO, {}).get("images", {})
        common = [i for i in theirs if i in ours]
        if common and len(common) < len(ours):
            lines.append(f"\nOn the {len(common)} {s} pairs CBM3D ran: ours (auto) "
                         f"{np.mean([ours[i]['psnr'] for i in common]):.2f} dB / "
                         f"{np.mean([ours[i]['ssim'] for i in common]):.4f}, CBM3D "
                         f"{np.mean([theirs[i]['psnr'] for i in common]):.2f} dB / "
                         f"{np.mean([theirs[i]['ssim'] for i in common]):.4f}.")
    lines += ["", "Noise level estimated per image (0..255 scale) and the model `--sigma auto` chose:", ""]
    for s in sets:
        est = np.array(list(state["estimates"][s].values()))
        picks = [e.get("model") for e in state["results"][s].get(AUTO, {}).get("images", {}).values()]
        counts = ", ".join(f"{m} x{picks.count(m)}" for m in sorted(set(picks)))
        lines.append(f"- {s}: estimate {est.mean():.2f} mean, {est.min():.2f}-{est.max():.2f}; chose {counts}")
    return "\n".join(lines) + "\n"


def rni15_grid(root: str, models: dict[str, str], folder: str, precision: str, crop: int, out_path: str,
               with_cbm3d: bool, cache_dir: str) -> list[dict]:
    """Writes the RNI15 grid (JPEG) and returns ``[{"id", "estimate", "model", "seconds"}]`` per photo.

    Rows are photos; columns: the whole photo with the box, then the box zoomed from the noisy photo, CBM3D
    and ours (auto). The box is the ``crop``-pixel square of the most local detail (highest gradient energy
    of ours, so flat sky is not what is shown). Denoised photos are cached as PNG in ``cache_dir``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    photos = realnoise.photos(root)
    os.makedirs(cache_dir, exist_ok=True)
    loaded, rows = {}, []
    for image_id, path in tqdm(photos, desc="RNI15", unit="photo"):
        noisy = imageio.load_image(path).pixels
        estimate = noise.estimate_sigma(noisy)
        name = shipping.auto_choice_name(estimate, folder=folder)
        model_path = models[name]
        outputs = {"noisy": noisy}
        for method in (("ours", "cbm3d") if with_cbm3d else ("ours",)):
            tag = (f"{name}-{evaluation.file_identity(model_path).rsplit(':', 1)[1][:8]}" if method == "ours"
                   else f"{estimate:.3f}")
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
                result = baselines.cbm3d_denoise(noisy, estimate)
            outputs[method] = np.clip(result, 0.0, 1.0)
            imageio.save_png(cached, outputs[method])
            print(f"{image_id} {method}: {time.perf_counter() - start:.1f} s")
        rows.append({"id": image_id, "estimate": estimate, "model": name, "outputs": outputs})
    columns = ["photo", "noisy", "CBM3D (est. sigma)", "ours (--sigma auto)"] if with_cbm3d else \
        ["photo", "noisy", "ours (--sigma auto)"]
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 2.6 * len(rows)))
    for r, row in enumerate(rows):
        ours = row["outputs"]["ours"]
        y, x = _busiest_box(ours, crop)
        axes[r, 0].imshow(np.clip(row["outputs"]["noisy"], 0, 1))
        axes[r, 0].add_patch(patches.Rectangle((x, y), crop, crop, fill=False, edgecolor="yellow", linewidth=1.5))
        axes[r, 0].set_ylabel(f"{row['id']}\nest. sigma {row['estimate']:.1f}\n{row['model']}", fontsize=8)
        keys = ["noisy", "cbm3d", "ours"] if with_cbm3d else ["noisy", "ours"]
        for c, key in enumerate(keys, start=1):
            axes[r, c].imshow(np.clip(row["outputs"][key][y:y + crop, x:x + crop], 0, 1), interpolation="nearest")
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
            score = float(energy[y:y + crop, x:x + crop].sum())
            if score > best:
                best, where = score, (y, x)
    return where


def main(argv):
    del argv
    root = FLAGS.data_root or default_data_root()
    folder = FLAGS.models_dir or shipping.models_dir()
    models = shipping.shipped_by_name(folder)
    if not models:
        raise app.UsageError(f"no shipped model in {folder}")
    os.makedirs(FLAGS.out, exist_ok=True)
    command = "python -m tools.evaluate_realnoise --out " + FLAGS.out + ("" if FLAGS.cbm3d else " --nocbm3d") + (
        f" --limit {FLAGS.limit}" if FLAGS.limit else "") + f" --cbm3d_limit {FLAGS.cbm3d_limit}"
    state = measure_pairs(root, FLAGS.sets, FLAGS.limit, models, folder, FLAGS.precision, FLAGS.cbm3d,
                          os.path.join(FLAGS.out, "results.json"), FLAGS.cbm3d_limit)
    text = markdown(state, command)
    if FLAGS.grid:
        picks = rni15_grid(root, models, folder, FLAGS.precision, FLAGS.crop, os.path.join(FLAGS.out, "rni15_grid.jpg"),
                           FLAGS.cbm3d, os.path.join("runs", "realnoise_rni15"))
        text += ("\n## RNI15 (no ground truth)\n\n![RNI15: noisy, CBM3D, ours](rni15_grid.jpg)\n\n"
                 "Estimated sigma and model per photo: "
                 + ", ".join(f"{p['id']} {p['estimate']:.1f} ({p['model']})" for p in picks) + ".\n")
    atomic.write_text(os.path.join(FLAGS.out, "results.md"), text)
    print(text)


if __name__ == "__main__":
    app.run(main)
