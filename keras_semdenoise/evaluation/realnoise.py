"""Real camera noise (the paper's Sec. IV-C) on the paired sets (``data.real_pairs.PAIRED_SETS``: a noisy photo
and its ground truth, the mean of many shots): PSNR / SSIM per image of the noisy photo, CBM3D given the
estimated sigma, every shipped model and ``--sigma auto``'s choice, measured as the tables measure
(``evaluation.measure``) and kept in a resumable results file; ``markdown`` is the table.
``tools/evaluate_realnoise.py`` runs it and draws the RNI15 grid.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from keras_semdenoise import atomic, imageio, noise
from keras_semdenoise.data import real_pairs
from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import cbm3d, denoising, store
from keras_semdenoise.models import shipped

NOISY, CBM3D, AUTO = "noisy (no denoising)", "CBM3D (estimated sigma)", "ours: --sigma auto"


def _cbm3d_identity() -> str:
    from importlib import metadata

    return f"bm3d {metadata.version('bm3d')}, sigma = noise.estimate_sigma"


def measure_pairs(
    root: str,
    sets: list[str],
    limit: int,
    models: dict[str, str],
    folder: str,
    precision: str,
    with_cbm3d: bool,
    results_path: str,
    cbm3d_limit: int = 0,
) -> dict:
    """Fills ``results.json``: ``{"results": {set: {method: {"identity", "images": {id: {"psnr", "ssim",
    "seconds"[, "model"]}}}}}, "estimates": {set: {id: sigma_255}}}`` and returns it."""
    state = store.load(results_path)
    state.update(machine=denoising.machine_description(), precision=precision)
    identities = {NOISY: "identity"}
    if with_cbm3d:
        identities[CBM3D] = _cbm3d_identity()
    identities.update({name: f"{denoising.file_identity(path)}, {precision}" for name, path in models.items()})
    loaded = {}

    def run(method: str, noisy: np.ndarray, sigma: float) -> np.ndarray:
        if method == NOISY:
            return noisy
        if method == CBM3D:
            return cbm3d.cbm3d_denoise(noisy, sigma)
        if method not in loaded:
            loaded[method] = inference.load_denoiser(models[method], precision=precision)
        return inference.denoise(loaded[method], noisy)

    for set_name in sets:
        pairs = real_pairs.pairs(root, set_name, limit)
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
                cells[method]["images"][image_id] = denoising.measure(
                    lambda image, sigma, method=method: run(method, image, sigma),
                    noisy,
                    clean,
                    estimates[image_id],
                    with_ssim=True,
                )
                atomic.write_json(results_path, state)
        chosen = {}
        for image_id, _, _ in pairs:
            name = shipped.auto_choice_name(estimates[image_id], folder=folder)
            chosen[image_id] = dict(cells[name]["images"][image_id], model=name)
        cells[AUTO] = {"identity": f"rule {shipped.AUTO_RULE} over {sorted(identities)}", "images": chosen}
        atomic.write_json(results_path, state)
    return state


def _mean(cell: dict, key: str) -> float:
    return float(np.mean([entry[key] for entry in cell["images"].values()]))


def markdown(state: dict, command: str) -> str:
    """The PSNR / SSIM table (methods x sets), with the best fixed per-sigma model marked."""
    sets = list(state["results"])
    lines = [
        "# Real camera noise: Nam25 and PolyU100",
        "",
        f"Made by `{command}` ({state['machine']}; inference in {state['precision']}). PSNR (dB) / SSIM "
        "against the ground truth (mean of many shots), whole 512x512 images, RGB jointly, 8-bit. CBM3D is "
        "given the noise level estimated by `noise.estimate_sigma` (wavelet MAD), as `--sigma auto` is. "
        "'best fixed' is the per-sigma model with the best mean on that set: an oracle choice.",
        "",
        "| method | " + " | ".join(f"{s} ({len(state['estimates'][s])} pairs)" for s in sets) + " | seconds / image |",
        "| --- |" + " --- |" * (len(sets) + 1),
    ]
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
            lines.append(
                f"\nOn the {len(common)} {s} pairs CBM3D ran: ours (auto) "
                f"{np.mean([ours[i]['psnr'] for i in common]):.2f} dB / "
                f"{np.mean([ours[i]['ssim'] for i in common]):.4f}, CBM3D "
                f"{np.mean([theirs[i]['psnr'] for i in common]):.2f} dB / "
                f"{np.mean([theirs[i]['ssim'] for i in common]):.4f}."
            )
    lines += ["", "Noise level estimated per image (0..255 scale) and the model `--sigma auto` chose:", ""]
    for s in sets:
        est = np.array(list(state["estimates"][s].values()))
        picks = [e.get("model") for e in state["results"][s].get(AUTO, {}).get("images", {}).values()]
        counts = ", ".join(f"{m} x{picks.count(m)}" for m in sorted(set(picks)))
        lines.append(f"- {s}: estimate {est.mean():.2f} mean, {est.min():.2f}-{est.max():.2f}; chose {counts}")
    return "\n".join(lines) + "\n"
