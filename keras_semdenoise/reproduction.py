"""The paper's high-level findings at CPU scale (CIFAR-10 classification, CamVid segmentation), as one
resumable pipeline: heads on clean data, separate and joint denoisers per sigma, the Tables IV/V
evaluation, and ``RESULTS.md`` with plots, example images and a check of each finding.

Every stage runs an existing entry point (``train.train_head``, ``train.train_denoiser``,
``train.train_joint``, ``tools.evaluate_task``) in a subprocess, writes its log under
``<work_dir>/logs/`` and is skipped once its output exists; the entry points themselves resume from
their checkpoints, so an interrupted pipeline loses at most one checkpoint interval when re-run.
Trained weights are shipped (copied) under ``models_dir`` and the evaluation reads them from there, so
``tools/evaluate_task.py`` reproduces the tables from the shipped files without retraining.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

from keras_semdenoise import atomic
from keras_semdenoise.tasks import SETTINGS, SHORT, TASKS, noise_name


@dataclasses.dataclass
class ReproduceConfig:
    """Everything the pipeline does; the defaults are the CPU-scale run reported in RESULTS.md."""

    data_root: str
    work_dir: str = "runs/reproduce"
    models_dir: str = "saved_models/reproduce"
    docs_dir: str = "docs/reproduce"
    results_path: str = "docs/RESULTS.md"
    sigmas: tuple[float, ...] = (15.0, 30.0, 45.0, 60.0)
    cls_data: str = "cifar10-jpeg"
    seg_data: str = "camvid"
    seg_num_classes: int = 11
    seg_ignore_index: int = 11
    # Heads (train/train_head.py): VGG16 / DeepLab-LargeFOV layer pattern at reduced widths. The shipped
    # heads were trained with these settings on a lent GPU (Keras on JAX, data packed by
    # tools/pack_task_data.py); on a CPU the same stages take hours.
    cls_width_divisor: int = 2
    seg_width_divisor: int = 4
    head_batch_norm: bool = True  # from scratch, plain VGG16 (no BN) trains poorly
    cls_hidden_units: int = 512
    seg_fc_units: int = 256
    cls_head_steps: int = 20000
    seg_head_steps: int = 6000
    cls_head_batch: int = 128
    seg_head_batch: int = 16
    seg_head_crop: int = 320
    head_learning_rate: float = 1e-3
    # Joint training crops and batches (CPU).
    cls_crop: int = 32
    seg_crop: int = 160
    cls_batch: int = 64
    seg_batch: int = 8
    # Denoiser: one reduced-width architecture for every setting.
    denoiser_data: str = "CBSD432"
    stem_filters: int = 32
    encoder_filters: tuple[int, ...] = (64, 64)
    decoder_filters: tuple[int, ...] = (128,)
    separate_steps: int = 750  # whole checkpoint intervals (train_denoiser rounds up to them)
    separate_batch: int = 32
    separate_patch: int = 48
    separate_eval_images: int = 6
    joint_steps: int = 120
    joint_learning_rate: float = 1e-4
    # Evaluation: images per cell (0 = the whole test split); CBM3D is the slow part.
    cls_eval_images: int = 1000
    seg_eval_images: int = 16
    checkpoint_every: int = 250
    seed: int = 0
    python: str = sys.executable

    def __post_init__(self):
        self.sigmas = tuple(float(s) for s in self.sigmas)
        self.encoder_filters = tuple(int(f) for f in self.encoder_filters)
        self.decoder_filters = tuple(int(f) for f in self.decoder_filters)
        if not self.sigmas or any(not 0 < s <= 255 for s in self.sigmas):
            raise ValueError(f"sigmas must be in (0, 255], got {self.sigmas}")

    def _under_root(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.data_root, name)

    def data(self, task: str) -> str:
        return self._under_root(self.cls_data if task == "classification" else self.seg_data)

    def denoiser_data_dir(self) -> str:
        return self._under_root(self.denoiser_data)

    def train_crop(self, task: str) -> int:
        """Joint-training crop (classification: also the head's input size)."""
        return self.cls_crop if task == "classification" else self.seg_crop

    def train_batch(self, task: str) -> int:
        """Joint-training batch."""
        return self.cls_batch if task == "classification" else self.seg_batch

    def head_crop(self, task: str) -> int:
        return self.cls_crop if task == "classification" else self.seg_head_crop

    def head_batch(self, task: str) -> int:
        return self.cls_head_batch if task == "classification" else self.seg_head_batch

    def width_divisor(self, task: str) -> int:
        return self.cls_width_divisor if task == "classification" else self.seg_width_divisor

    def head_path(self, task: str) -> str:
        return os.path.join(self.models_dir, f"head_{SHORT[task]}.keras")

    def denoiser_path(self, kind: str, sigma) -> str:
        """Shipped denoiser: kind is 'separate', 'joint_cls' or 'joint_seg'; sigma may be '{sigma}'."""
        sigma_text = sigma if isinstance(sigma, str) else f"{sigma:g}"
        return os.path.join(self.models_dir, f"{kind}_s{sigma_text}.keras")

    def eval_dir(self, task: str) -> str:
        return os.path.join(self.docs_dir, task)


@dataclasses.dataclass
class Stage:
    """One step: a command whose finished product is ``output`` (shipped to ``ship_to`` if set)."""

    name: str
    command: list[str]
    output: str
    ship_to: str | None = None

    def done(self) -> bool:
        return os.path.exists(self.ship_to or self.output)


def _task_flags(config: ReproduceConfig, task: str) -> list[str]:
    flags = [f"--task={task}", f"--data={config.data(task)}"]
    if task == "segmentation":
        flags += [f"--num_classes={config.seg_num_classes}", f"--ignore_index={config.seg_ignore_index}"]
    return flags


def _eval_batches(config: ReproduceConfig, task: str) -> tuple[int, int]:
    batch = config.cls_batch if task == "classification" else 1  # CamVid frames one by one (any size)
    images = config.cls_eval_images if task == "classification" else config.seg_eval_images
    return batch, (-(-images // batch) if images else 0)


def plan(config: ReproduceConfig) -> list[Stage]:
    """All stages in order: heads, separate denoisers, joint denoisers, evaluations."""
    py, work = [config.python, "-m"], config.work_dir
    stages = []
    for task in TASKS:
        run = os.path.join(work, f"head_{SHORT[task]}")
        classification = task == "classification"
        command = py + ["train.train_head", *_task_flags(config, task), f"--model_dir={run}",
                        f"--width_divisor={config.width_divisor(task)}",
                        "--batch_norm" if config.head_batch_norm else "--nobatch_norm",
                        f"--crop_size={config.head_crop(task)}", f"--batch_size={config.head_batch(task)}",
                        f"--steps={config.cls_head_steps if classification else config.seg_head_steps}",
                        f"--learning_rate={config.head_learning_rate}", f"--checkpoint_every={config.checkpoint_every}",
                        "--eval_split=test", "--eval_batches=0", f"--seed={config.seed}", "--verbose=2"]
        command += [f"--hidden_units={config.cls_hidden_units}"] if classification else [
            f"--fc_units={config.seg_fc_units}"]
        stages.append(Stage(f"head_{SHORT[task]}", command, os.path.join(run, "head.keras"), config.head_path(task)))
    for sigma in config.sigmas:
        run = os.path.join(work, f"separate_s{sigma:g}")
        command = py + ["train.train_denoiser", f"--model_dir={run}", f"--data_dir={config.denoiser_data_dir()}",
                        f"--sigma={sigma:g}",
                        f"--steps={config.separate_steps}", f"--batch_size={config.separate_batch}",
                        f"--patch_size={config.separate_patch}", f"--checkpoint_every={config.checkpoint_every}",
                        f"--eval_images={config.separate_eval_images}", f"--stem_filters={config.stem_filters}",
                        f"--encoder_filters={','.join(map(str, config.encoder_filters))}",
                        f"--decoder_filters={','.join(map(str, config.decoder_filters))}",
                        f"--seed={config.seed}", "--verbose=2"]
        stages.append(Stage(f"separate_s{sigma:g}", command, os.path.join(run, "final.keras"),
                            config.denoiser_path("separate", sigma)))
    for task in TASKS:
        for sigma in config.sigmas:
            kind = f"joint_{SHORT[task]}"
            run = os.path.join(work, f"{kind}_s{sigma:g}")
            command = py + ["train.train_joint", *_task_flags(config, task), f"--model_dir={run}",
                            f"--head={config.head_path(task)}",
                            f"--denoiser_init={config.denoiser_path('separate', sigma)}", f"--sigma={sigma:g}",
                            f"--crop_size={config.train_crop(task)}", f"--batch_size={config.train_batch(task)}",
                            f"--steps={config.joint_steps}", f"--learning_rate={config.joint_learning_rate}",
                            f"--checkpoint_every={config.checkpoint_every}", f"--seed={config.seed}", "--verbose=2"]
            stages.append(Stage(f"{kind}_s{sigma:g}", command, os.path.join(run, "denoiser.keras"),
                                config.denoiser_path(kind, sigma)))
    for task in TASKS:
        other = "segmentation" if task == "classification" else "classification"
        batch, max_batches = _eval_batches(config, task)
        command = py + ["tools.evaluate_task", *_task_flags(config, task), "--split=test",
                        f"--head={config.head_path(task)}", f"--sigmas={','.join(f'{s:g}' for s in config.sigmas)}",
                        f"--separate={config.denoiser_path('separate', '{sigma}')}",
                        f"--joint={config.denoiser_path(f'joint_{SHORT[task]}', '{sigma}')}",
                        f"--cross={config.denoiser_path(f'joint_{SHORT[other]}', '{sigma}')}",
                        f"--crop_size={config.cls_crop if task == 'classification' else 0}",
                        f"--batch_size={batch}", f"--max_batches={max_batches}", f"--out={config.eval_dir(task)}"]
        stages.append(Stage(f"evaluate_{SHORT[task]}", command,
                            os.path.join(config.eval_dir(task), "results.md")))
    return stages


def run(config: ReproduceConfig, progress: bool = True, report: bool = True) -> list[str]:
    """Runs every stage not yet done, then writes the report. Returns the names of the stages run.

    Raises ``RuntimeError`` naming the stage and its log (last lines included) when a stage fails;
    re-running after fixing the cause goes on from there.
    """
    from tqdm import tqdm

    log_dir = os.path.join(config.work_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(config.work_dir, "config.json"), "w") as handle:
        json.dump(dataclasses.asdict(config), handle, indent=1)
    stages = plan(config)
    ran = []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    bar = tqdm(stages, desc="reproduce", unit="stage", disable=not progress)
    for stage in bar:
        bar.set_postfix_str(stage.name)
        if stage.done():
            continue
        log_path = os.path.join(log_dir, f"{stage.name}.log")
        start = time.time()
        with open(log_path, "a") as log:
            log.write(f"\n$ {' '.join(stage.command)}\n")
            log.flush()
            result = subprocess.run(stage.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        if result.returncode != 0 or not os.path.exists(stage.output):
            with open(log_path) as handle:
                tail = "".join(handle.readlines()[-15:])
            raise RuntimeError(f"stage {stage.name} failed (exit {result.returncode}); log {log_path}:\n{tail}")
        if stage.ship_to:
            atomic.copy_file(stage.output, stage.ship_to)
        ran.append(stage.name)
        bar.write(f"{stage.name}: done in {time.time() - start:.0f} s")
    if report:
        write_report(config)
    return ran


def _load_results(config: ReproduceConfig) -> dict:
    results = {}
    for task in TASKS:
        path = os.path.join(config.eval_dir(task), "results.json")
        if os.path.exists(path):
            with open(path) as handle:
                results[task] = json.load(handle)
    return results


def score(task: str, cell: dict) -> float:
    """The task's headline number of a cell: top-1 accuracy or mIoU, in %."""
    return cell["top1"] if task == "classification" else cell["miou"]


def findings(task: str, state: dict) -> list[str]:
    """The paper's claims checked on one task's measured table, one line each (MATCHED / NOT MATCHED)."""
    cells = state["cells"]
    sigmas = sorted({s for c in cells.values() for s in c if s != "clean"}, key=float)
    lines = []

    def verdict(ok: bool) -> str:
        return "MATCHED" if ok else "NOT MATCHED"

    both = [s for s in sigmas if all(s in cells.get(k, {}) for k in ("joint", "separate", "cbm3d"))]
    if both:
        gaps = {s: score(task, cells["joint"][s]) - score(task, cells["separate"][s]) for s in both}
        over_cbm3d = {s: score(task, cells["joint"][s]) - score(task, cells["cbm3d"][s]) for s in both}
        ok = all(g > 0 for g in gaps.values()) and all(g > 0 for g in over_cbm3d.values())
        lines.append(f"Joint beats Separate and CBM3D at every sigma: {verdict(ok)} (joint - separate: "
                     + ", ".join(f"s{s} {g:+.2f}" for s, g in gaps.items()) + "; joint - CBM3D: "
                     + ", ".join(f"s{s} {g:+.2f}" for s, g in over_cbm3d.items()) + " points).")
        first, last = gaps[both[0]], gaps[both[-1]]
        lines.append(f"The gap grows with sigma: {verdict(last > first)} (s{both[0]} {first:+.2f} -> "
                     f"s{both[-1]} {last:+.2f} points).")
    cross = [s for s in sigmas if s in cells.get("cross", {}) and s in cells.get("joint", {})
             and s in cells.get("separate", {})]
    if cross:
        closer = {s: abs(score(task, cells["joint"][s]) - score(task, cells["cross"][s]))
                  <= abs(score(task, cells["joint"][s]) - score(task, cells["separate"][s])) for s in cross}
        lines.append(f"Cross-task is closer to Joint than Separate is: {verdict(all(closer.values()))} ("
                     + ", ".join(f"s{s} cross {score(task, cells['cross'][s]):.2f} vs joint "
                                 f"{score(task, cells['joint'][s]):.2f}" for s in cross) + ").")
    psnr = [s for s in both if "psnr" in cells["joint"][s] and "psnr" in cells["separate"][s]]
    if psnr:
        costs = {s: cells["joint"][s]["psnr"] - cells["separate"][s]["psnr"] for s in psnr}
        ok = all(-1.0 <= c <= 0.05 for c in costs.values())
        lines.append(f"Joint costs a little PSNR (0 to 1 dB): {verdict(ok)} (joint - separate: "
                     + ", ".join(f"s{s} {c:+.2f} dB" for s, c in costs.items()) + ").")
    scored = [c for setting, c_by_sigma in cells.items() if setting != "clean" for c in c_by_sigma.values()]
    if task == "classification" and scored:
        count = scored[0]["images"]
        error = max(100.0 * (p * (1 - p) / count) ** 0.5 for p in (score(task, c) / 100.0 for c in scored))
        lines.append(f"Noise: one cell's top-1 on {count} images has a binomial standard error of up to "
                     f"{error:.1f} points; all settings see the same images and noise, so differences between "
                     "them are less noisy than that, but gaps under about one point are not conclusive.")
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
                axis.plot([float(s) for s in sigmas], [score(task, cells[s]) for s in sigmas], marker="o",
                          label=setting)
        clean = state["cells"].get("clean", {}).get("clean")
        if clean:
            axis.axhline(score(task, clean), color="gray", linestyle="--", linewidth=1, label="clean input")
        axis.set_xlabel("noise sigma (0..255)")
        axis.set_ylabel("top-1 accuracy (%)" if task == "classification" else "mIoU (%)")
        axis.set_title(task)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    atomic.save_figure(figure, out_path)
    plt.close(figure)


def _pick_examples(task: str, scores: list[tuple[float, float]], count: int) -> tuple[list[int], str]:
    """Which candidates to show, and how they were picked. ``scores``: (separate, joint) per candidate,
    1/0 for a right/wrong class or the % of pixels right. Classification: images the two disagree on,
    joint right first, then separate right, then the rest in order; segmentation: the largest gap."""
    if task == "classification":
        joint_right = [i for i, (s, j) in enumerate(scores) if j > s]
        separate_right = [i for i, (s, j) in enumerate(scores) if s > j]
        rest = [i for i, (s, j) in enumerate(scores) if s == j]
        chosen = (joint_right + separate_right + rest)[:count]
        note = (f"of the first {len(scores)} test images, {len(joint_right)} right only after joint and "
                f"{len(separate_right)} only after separate; shown: those first")
        return chosen, note
    best = max(range(len(scores)), key=lambda i: abs(scores[i][1] - scores[i][0]))
    return [best], f"the frame of the first {len(scores)} where separate and joint differ most"


def example_figure(config: ReproduceConfig, task: str, out_path: str, count: int = 4,
                   pool: int = 64) -> str | None:
    """Noisy / separate / joint images at the largest sigma, with the head's output, where they differ.

    Candidates are the first ``pool`` test images (classification) or the evaluated CamVid frames
    (segmentation, at most ``seg_eval_images``); ``_pick_examples`` chooses among them.
    Returns the path written, or None when the shipped models are missing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from keras_semdenoise import inference, metrics, noise
    from keras_semdenoise.data import tasks
    from keras_semdenoise.heads import load_head

    sigma = max(config.sigmas)
    paths = {"separate": config.denoiser_path("separate", sigma),
             "joint": config.denoiser_path(f"joint_{SHORT[task]}", sigma)}
    if not os.path.exists(config.head_path(task)) or not all(os.path.exists(p) for p in paths.values()):
        return None
    head = load_head(config.head_path(task))
    models = {name: inference.load_denoiser(path) for name, path in paths.items()}
    split = tasks.load_split(task, config.data(task), "test", config.seg_ignore_index, config.seg_num_classes)
    classification = task == "classification"
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

    pool = min(pool, split.size) if classification else max(1, min(config.seg_eval_images or 1, split.size))
    candidates, scores = [], []
    for index, (image, label) in enumerate(tasks.batches(split, 1, crop, False)):
        if index >= pool:
            break
        clean, label = np.asarray(image[0]), np.asarray(label[0])
        noisy = noise.add_seeded_gaussian_noise(clean, sigma, noise_name(task, index))
        columns = [("noisy", noisy)] + [(name, inference.denoise(model, noisy)) for name, model in models.items()]
        columns.append(("clean", clean))
        judged = [(name, picture, *judge(picture, label)) for name, picture in columns]
        candidates.append((clean, label, judged))
        scores.append(tuple(score for name, _, _, score in judged if name in ("separate", "joint")))
    chosen, note = _pick_examples(task, scores, count)
    rows = [candidates[i] for i in chosen]
    ncols = len(rows[0][2])
    nrows = len(rows) * (1 if classification else 2)
    figure, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.4 * nrows), dpi=110, squeeze=False)
    names = split.class_names if classification else ()
    for row_index, (clean, label, judged) in enumerate(rows):
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
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    atomic.save_figure(figure, out_path)
    plt.close(figure)
    return out_path


def head_quality(config: ReproduceConfig) -> dict:
    """Each head's clean test result (``train_head``'s eval.json), kept under ``docs_dir`` so that the
    report can be rewritten from a checkout without the training runs."""
    quality = {}
    for task in TASKS:
        kept = os.path.join(config.docs_dir, f"head_{SHORT[task]}_clean.json")
        measured = os.path.join(config.work_dir, f"head_{SHORT[task]}", "eval.json")
        if os.path.exists(measured):
            atomic.copy_file(measured, kept)
        if os.path.exists(kept):
            with open(kept) as handle:
                quality[task] = json.load(handle)
    return quality


def write_report(config: ReproduceConfig) -> str:
    """Writes ``results_path`` (RESULTS.md) from the measured tables; returns its path."""
    results = _load_results(config)
    docs = os.path.dirname(os.path.abspath(config.results_path))
    lines = ["# High-level findings at CPU scale: CIFAR-10 and CamVid", "",
             "Generated by `python -m tools.reproduce` from the measured tables in "
             f"`{config.docs_dir}/*/results.json`; the shipped weights are in `{config.models_dir}/`.", "",
             "## Setup", "",
             f"- Heads trained on clean data{' with batch norm after each conv' if config.head_batch_norm else ''}: "
             f"VGG16 layer pattern with widths divided by {config.cls_width_divisor} ({config.cls_head_steps} steps "
             f"of {config.cls_head_batch} {config.cls_crop}x{config.cls_crop} crops) and DeepLab-LargeFOV layer "
             f"pattern with widths divided by {config.seg_width_divisor} ({config.seg_head_steps} steps of "
             f"{config.seg_head_batch} {config.seg_head_crop}x{config.seg_head_crop} crops). Joint training "
             f"uses batches of {config.cls_batch} {config.cls_crop}x{config.cls_crop} (classification) and "
             f"{config.seg_batch} {config.seg_crop}x{config.seg_crop} crops (segmentation).",
             f"- One reduced-width denoiser for every setting: stem {config.stem_filters}, encoders "
             f"{list(config.encoder_filters)}, decoder {list(config.decoder_filters)}. Separate: MSE, "
             f"{config.separate_steps} steps on {config.denoiser_data} patches. Joint: from the separate model, "
             f"{config.joint_steps} steps through the frozen head with the paper's lambdas.",
             f"- Sigmas {', '.join(f'{s:g}' for s in config.sigmas)}; evaluation noise seeded per image.", ""]
    clean = head_quality(config)
    if clean:
        lines += ["## Heads on clean test images", ""]
        for task, result in clean.items():
            value = (f"top-1 {result['top1']:.2f}%, top-5 {result['top5']:.2f}% (aim: 85% top-1)"
                     if task == "classification" else f"mIoU {result['miou']:.2f}% (aim: 45%)")
            lines.append(f"- {task}: {value} on all {result['images']} test images.")
        trained_here = [t for t in TASKS if os.path.exists(os.path.join(config.work_dir, f"head_{SHORT[t]}", "eval.json"))]
        how = os.path.join(config.docs_dir, "HEADS.md")
        if not trained_here and os.path.exists(how):
            lines.append(f"- The heads were not trained by this pipeline run: [{os.path.relpath(how, docs)}]"
                         f"({os.path.relpath(how, docs)}) says where and how they were.")
        lines.append("")
    if len(results) > 0:
        plot_path = os.path.join(config.docs_dir, "scores_vs_sigma.png")
        plot_scores(results, plot_path)
        lines += ["## Tables", ""]
        for task, state in results.items():
            table_path = os.path.join(config.eval_dir(task), "results.md")
            with open(table_path) as handle:
                table = handle.read().strip().replace(os.path.abspath(config.data_root), "../shared/data")
            lines += [f"### {task}", "", table, "", "Findings checked on this table:", ""]
            lines += [f"- {line}" for line in findings(task, state)] + [""]
        lines += ["## Score vs sigma", "", f"![scores]({os.path.relpath(plot_path, docs)})", ""]
    examples = []
    for task in TASKS:
        path = example_figure(config, task, os.path.join(config.docs_dir, f"examples_{SHORT[task]}.png"))
        if path:
            examples.append(f"![{task} examples]({os.path.relpath(path, docs)})")
    if examples:
        lines += ["## Examples (largest sigma)", ""] + examples + [""]
    discussion = os.path.join(config.docs_dir, "DISCUSSION.md")
    if os.path.exists(discussion):  # written by a person who read the tables; kept across report rewrites
        with open(discussion) as handle:
            lines += ["## Discussion", "", f"(From `{os.path.relpath(discussion, docs)}`.)", "",
                      handle.read().strip(), ""]
    lines += ["## Commands", "", "```bash", "python -m tools.reproduce   # resumable: re-run to go on", ""]
    for stage in plan(config):
        command = " ".join(c if c != config.python else "python" for c in stage.command)
        lines.append(command.replace(os.path.abspath(config.data_root), "../shared/data"))
    lines += ["```", ""]
    return atomic.write_text(config.results_path, "\n".join(lines))
