"""What the measured tables say: the paper's findings checked one by one, the score-vs-sigma plot, and
example images where the separate and joint denoisers lead the head to different answers."""

from __future__ import annotations

import os

from experiments.reproduce.config import ReproduceConfig
from keras_semdenoise import atomic
from keras_semdenoise.evaluation import intervals
from keras_semdenoise.task_kinds import CLASSIFICATION, SETTINGS, SHORT, noise_name


def score(task: str, cell: dict) -> float:
    """The task's headline number of a cell: top-1 accuracy or mIoU, in %."""
    return cell["top1"] if task == CLASSIFICATION.name else cell["miou"]


def findings(
    task: str, state: dict, records_of: intervals.RecordsReader | None = None, resamples: int = intervals.RESAMPLES
) -> list[str]:
    """The paper's claims checked on one task's measured table, one line each (MATCHED / NOT MATCHED).

    With ``records_of`` (``evaluation.store.records_reader`` of the evaluation's folder), each quoted
    difference between two cells that have per-image records gets its 95% paired bootstrap interval over
    images (``evaluation.intervals``), as ``+1.00 [+0.40, +1.60]``; the verdicts stay on the point values.
    """
    cells = state["cells"]
    sigmas = sorted({s for c in cells.values() for s in c if s != "clean"}, key=float)
    lines = []
    measured = {}

    def verdict(ok: bool) -> str:
        return "MATCHED" if ok else "NOT MATCHED"

    def interval(first: str, second: str, sigma: str, metric: str):
        """first - second with its interval, or None without records."""
        if records_of is None:
            return None
        if (first, second, sigma, metric) not in measured:
            measured[first, second, sigma, metric] = intervals.cell_difference(
                records_of, first, second, sigma, metric, resamples
            )
        return measured[first, second, sigma, metric]

    def quoted(first: str, second: str, sigma: str, value: float, metric: str | None = None) -> str:
        difference = interval(first, second, sigma, metric or intervals.headline_metric(task))
        return difference.text(2) if difference else f"{value:+.2f}"

    # The findings on joint against separate alone need no CBM3D cell (the costliest to measure).
    paired = [s for s in sigmas if all(s in cells.get(k, {}) for k in ("joint", "separate"))]
    gaps = {s: score(task, cells["joint"][s]) - score(task, cells["separate"][s]) for s in paired}
    both = [s for s in paired if s in cells.get("cbm3d", {})]
    if paired:
        over_cbm3d = {s: score(task, cells["joint"][s]) - score(task, cells["cbm3d"][s]) for s in both}
        ok = all(g > 0 for g in gaps.values()) and all(g > 0 for g in over_cbm3d.values())
        compared = [("separate", s) for s in paired] + [("cbm3d", s) for s in both]
        # A difference whose interval reaches 0 supports the claim by its point value only.
        weak = [
            f"joint - {'CBM3D' if other == 'cbm3d' else other} s{s}"
            for other, s in compared
            if (d := interval("joint", other, s, intervals.headline_metric(task))) is not None and d.low <= 0
        ]
        text = verdict(ok) + (" on the point values" if ok and weak else "")
        lines.append(
            f"Joint beats Separate and CBM3D at every sigma: {text} (joint - separate: "
            + ", ".join(f"s{s} {quoted('joint', 'separate', s, gaps[s])}" for s in paired)
            + (
                "; joint - CBM3D: " + ", ".join(f"s{s} {quoted('joint', 'cbm3d', s, g)}" for s, g in over_cbm3d.items())
                if both
                else ""
            )
            + " points"
            + (
                f"; CBM3D not yet measured at {', '.join(f's{s}' for s in paired if s not in both)}"
                if len(both) < len(paired)
                else ""
            )
            + (f"; not conclusive, the interval reaching 0: {', '.join(weak)}" if weak else "")
            + ")."
        )
    if len(paired) > 1:  # growth needs two sigmas
        first, last = gaps[paired[0]], gaps[paired[-1]]
        lines.append(
            f"The gap grows with sigma: {verdict(last > first)} (s{paired[0]} "
            f"{quoted('joint', 'separate', paired[0], first)} -> s{paired[-1]} "
            f"{quoted('joint', 'separate', paired[-1], last)} points)."
        )
    cross = [s for s in paired if s in cells.get("cross", {})]
    if cross:
        closer = {
            s: abs(score(task, cells["joint"][s]) - score(task, cells["cross"][s]))
            <= abs(score(task, cells["joint"][s]) - score(task, cells["separate"][s]))
            for s in cross
        }

        def cross_text(s: str) -> str:
            difference = interval("cross", "joint", s, intervals.headline_metric(task))
            return f"s{s} cross {score(task, cells['cross'][s]):.2f} vs joint {score(task, cells['joint'][s]):.2f}" + (
                f" (cross - joint {difference.text(2)})" if difference else ""
            )

        lines.append(
            f"Cross-task is closer to Joint than Separate is: {verdict(all(closer.values()))} ("
            + ", ".join(cross_text(s) for s in cross)
            + ")."
        )
    psnr = [s for s in paired if "psnr" in cells["joint"][s] and "psnr" in cells["separate"][s]]
    if psnr:
        costs = {s: cells["joint"][s]["psnr"] - cells["separate"][s]["psnr"] for s in psnr}
        ok = all(-1.0 <= c <= 0.05 for c in costs.values())
        lines.append(
            f"Joint costs a little PSNR (0 to 1 dB): {verdict(ok)} (joint - separate: "
            + ", ".join(f"s{s} {quoted('joint', 'separate', s, c, 'psnr')} dB" for s, c in costs.items())
            + ")."
        )
    scored = [c for setting, c_by_sigma in cells.items() if setting != "clean" for c in c_by_sigma.values()]
    if task == CLASSIFICATION.name and scored:
        count = scored[0]["images"]
        error = max(100.0 * (p * (1 - p) / count) ** 0.5 for p in (score(task, c) / 100.0 for c in scored))
        lines.append(
            f"Noise: one cell's top-1 on {count} images has a binomial standard error of up to "
            f"{error:.1f} points; all settings see the same images and noise, so differences between "
            "them are less noisy than that, but gaps under about one point are not conclusive."
        )
    shown = [d for d in measured.values() if d is not None]
    if shown:
        lines.append(
            f"In brackets: 95% intervals of a paired bootstrap over the {shown[0].images} images "
            f"({resamples} resamples, both cells on the same resampled images); a difference whose "
            "interval contains 0 is not conclusive."
        )
    return lines


def plot_scores(results: dict, out_path: str) -> None:
    """Accuracy / mIoU vs sigma per setting, one panel per task, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.8), dpi=120, squeeze=False)
    for axis, (task, state) in zip(axes[0], results.items()):
        for setting in SETTINGS:
            cells = state["cells"].get(setting, {})
            sigmas = sorted((s for s in cells if s != "clean"), key=float)
            if sigmas:
                axis.plot(
                    [float(s) for s in sigmas], [score(task, cells[s]) for s in sigmas], marker="o", label=setting
                )
        clean = state["cells"].get("clean", {}).get("clean")
        if clean:
            axis.axhline(score(task, clean), color="gray", linestyle="--", linewidth=1, label="clean input")
        axis.set_xlabel("noise sigma (0..255)")
        axis.set_ylabel("top-1 accuracy (%)" if task == CLASSIFICATION.name else "mIoU (%)")
        axis.set_title(task)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    atomic.save_figure(figure, out_path)
    plt.close(figure)


def pick_examples(task: str, scores: list[tuple[float, float]], count: int) -> tuple[list[int], str]:
    """Which candidates to show, and how they were picked. ``scores``: (separate, joint) per candidate,
    1/0 for a right/wrong class or the % of pixels right. Classification: images the two disagree on,
    joint right first, then separate right, then the rest in order; segmentation: the largest gap."""
    if task == CLASSIFICATION.name:
        joint_right = [i for i, (s, j) in enumerate(scores) if j > s]
        separate_right = [i for i, (s, j) in enumerate(scores) if s > j]
        rest = [i for i, (s, j) in enumerate(scores) if s == j]
        chosen = (joint_right + separate_right + rest)[:count]
        note = (
            f"of the first {len(scores)} test images, {len(joint_right)} right only after joint and "
            f"{len(separate_right)} only after separate; shown: those first"
        )
        return chosen, note
    best = max(range(len(scores)), key=lambda i: abs(scores[i][1] - scores[i][0]))
    return [best], f"of the first {len(scores)} test frames, the one where separate and joint differ most"


def example_pool(config: ReproduceConfig, task: str, size: int, pool: int = 64) -> int:
    """How many of a test split's ``size`` images are candidates for the examples: the first ``pool``, and of
    the CamVid frames no more than the evaluation measured (``seg_eval_images``; 0: all of them)."""
    evaluated = size if task == CLASSIFICATION.name else config.seg_eval_images or size
    return max(1, min(pool, size, evaluated))


def example_figure(config: ReproduceConfig, task: str, out_path: str, count: int = 4, pool: int = 64) -> str | None:
    """Noisy / separate / joint images at the largest sigma, with the head's output, where they differ.

    Candidates are the first ``pool`` test images (and of the CamVid frames, at most the evaluated
    ``seg_eval_images``, 0 for all); ``pick_examples`` chooses among them.
    Returns the path written, or None when the shipped models are missing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from keras_semdenoise import metrics, noise
    from keras_semdenoise.data import sources
    from keras_semdenoise.deploy import inference
    from keras_semdenoise.models.heads import load_head

    sigma = max(config.sigmas)
    paths = {
        "separate": config.denoiser_path("separate", sigma),
        "joint": config.denoiser_path(f"joint_{SHORT[task]}", sigma),
    }
    if not os.path.exists(config.head_path(task)) or not all(os.path.exists(p) for p in paths.values()):
        return None
    head = load_head(config.head_path(task))
    models = {name: inference.load_denoiser(path) for name, path in paths.items()}
    split = sources.load_split(task, config.data(task), "test", config.seg_ignore_index, config.seg_num_classes)
    classification = task == CLASSIFICATION.name
    crop = config.cls_crop if classification else None

    def judge(picture, label):
        """The head's prediction (class index or class map) and its score: 1/0 right/wrong, or % pixels right."""
        logits = np.asarray(head(picture[None], training=False))[0]
        if classification:
            predicted = int(logits.argmax())
            return predicted, float(predicted == int(label))
        prediction = logits.argmax(-1)
        valid = label != config.seg_ignore_index
        return prediction, 100.0 * float((prediction == label)[valid].mean()) if valid.any() else 0.0

    pool = example_pool(config, task, split.size, pool)
    candidates, scores = [], []
    for index, (image, label) in enumerate(sources.batches(split, 1, crop, False)):
        if index >= pool:
            break
        clean, label = np.asarray(image[0]), np.asarray(label[0])
        noisy = noise.add_seeded_gaussian_noise(clean, sigma, noise_name(task, index))
        columns = [("noisy", noisy)] + [(name, inference.denoise(model, noisy)) for name, model in models.items()]
        columns.append(("clean", clean))
        judged = [(name, picture, *judge(picture, label)) for name, picture in columns]
        candidates.append((clean, label, judged))
        scores.append(tuple(score for name, _, _, score in judged if name in ("separate", "joint")))
    chosen, note = pick_examples(task, scores, count)
    rows = [candidates[i] for i in chosen]
    ncols = len(rows[0][2])
    nrows = len(rows) * (1 if classification else 2)
    figure, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.4 * nrows), dpi=110, squeeze=False)
    names = split.class_names if classification else ()
    for row_index, (clean, _label, judged) in enumerate(rows):
        for col, (name, picture, prediction, score) in enumerate(judged):
            axis = axes[row_index * (nrows // len(rows))][col]
            axis.imshow(np.clip(picture, 0, 1))
            axis.set_axis_off()
            psnr = f", {metrics.psnr_uint8(clean, picture):.1f} dB" if name != "clean" else ""
            if classification:
                predicted = names[prediction] if names else prediction
                axis.set_title(f"{name}{psnr}\n-> {predicted} ({'right' if score else 'wrong'})", fontsize=8)
            else:
                axis.set_title(f"{name}{psnr}", fontsize=8)
                below = axes[row_index * 2 + 1][col]
                below.imshow(prediction, cmap="tab20", vmin=0, vmax=19, interpolation="nearest")
                below.set_axis_off()
                below.set_title(f"head output: {score:.1f}% pixels right", fontsize=8)
    figure.suptitle(f"{task}, sigma {sigma:g}: {note}", fontsize=9)
    figure.tight_layout()
    atomic.save_figure(figure, out_path)
    plt.close(figure)
    return out_path
