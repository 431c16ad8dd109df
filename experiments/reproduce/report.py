"""``RESULTS.md``: the setup, the loss scale chosen on validation, the heads' clean scores, the joint runs'
validation curves, the measured tables with the findings checked on each, the score-vs-sigma plot, example
images, a person's discussion, and every stage as a command."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shlex

from experiments.reproduce.config import ReproduceConfig
from experiments.reproduce.findings import example_figure, findings, plot_scores
from experiments.reproduce.loss_scale import plot_curves, validation_curve
from experiments.reproduce.stages import keep_history, plan
from keras_semdenoise import atomic
from keras_semdenoise.config_flags import changed_fields, flag_args
from keras_semdenoise.data import splits
from keras_semdenoise.evaluation import store, task_scores
from keras_semdenoise.evaluation.intervals import validation_metric
from keras_semdenoise.task_kinds import CLASSIFICATION, SHORT, TASKS

# Where the data root is written in the report, so that it reads the same from any checkout.
SHARED_DATA_TEXT = "../shared/data"


def load_results(config: ReproduceConfig) -> dict:
    """``{task: results state}`` of the evaluations measured so far (``evaluation.tasks.evaluate_cells``)."""
    results = {}
    for task in TASKS:
        path = os.path.join(config.eval_dir(task), "results.json")
        if os.path.exists(path):
            with open(path) as handle:
                results[task] = json.load(handle)
    return results


def head_quality(config: ReproduceConfig) -> dict:
    """Each head's clean test result (``run_head_training``'s eval.json), kept beside the shipped head
    (``head_clean_path``) so that the report can be rewritten from a checkout without the training runs, and
    by a run that reuses the heads."""
    quality = {}
    for task in TASKS:
        kept = config.head_clean_path(task)
        measured = os.path.join(config.work_dir, f"head_{SHORT[task]}", "eval.json")
        if os.path.exists(measured) and not os.path.exists(kept):  # a head shipped before heads kept theirs
            atomic.copy_file(measured, kept)
        if os.path.exists(kept):
            with open(kept) as handle:
                quality[task] = json.load(handle)
    return quality


def _reduced(config: ReproduceConfig) -> bool:
    """Whether the denoiser is narrower than the shipped (the paper's) architecture."""
    from keras_semdenoise.models.denoiser import DEFAULT_STEM_FILTERS

    return config.stem_filters < DEFAULT_STEM_FILTERS


def _setup(config: ReproduceConfig) -> list[str]:
    return [
        "## Setup",
        "",
        f"- Heads trained on clean data{' with batch norm after each conv' if config.head_batch_norm else ''}: "
        f"VGG16 layer pattern with widths divided by {config.cls_width_divisor} ({config.cls_head_steps} steps "
        f"of {config.cls_head_batch} {config.cls_crop}x{config.cls_crop} crops) and DeepLab-LargeFOV layer "
        f"pattern with widths divided by {config.seg_width_divisor} ({config.seg_head_steps} steps of "
        f"{config.seg_head_batch} {config.seg_head_crop}x{config.seg_head_crop} crops), {config.head_lr_schedule} "
        f"learning-rate schedule, "
        + (
            "the checkpoint chosen on the validation split below. "
            if config.head_validation
            else "the last checkpoint kept. "
        )
        + f"Joint training "
        f"uses batches of {config.cls_batch} {config.cls_crop}x{config.cls_crop} (classification) and "
        f"{config.seg_batch} {config.seg_crop}x{config.seg_crop} crops (segmentation).",
        f"- One {'reduced-width ' if _reduced(config) else ''}denoiser architecture for every setting: stem "
        f"{config.stem_filters}, encoders {list(config.encoder_filters)}, decoder {list(config.decoder_filters)}. "
        f"Separate: MSE, {config.separate_steps} steps on {config.denoiser_data} patches"
        + (
            f", fine-tuned from the shipped model nearest each sigma (`{config.separate_init}`)"
            if config.separate_init
            else ", from scratch"
        )
        + f". Joint: from the separate model, "
        f"{config.joint_steps} steps through the frozen head (loss scale below) on `{config.cls_train_split}` "
        f"(classification) and `{config.seg_train_split}` (segmentation), validated every "
        f"{config.joint_checkpoint_every(config.joint_steps)} steps on {config.cls_val_images or 'all'} images of "
        f"`{config.cls_val_split}` and {config.seg_val_images or 'all'} frames of `{config.seg_val_split}`; the "
        "shipped joint denoiser is its run's best checkpoint by the validation task metric (step 0, the separate "
        "model, included). Test splits are for the tables only.",
        f"- Training precision `{config.dtype_policy}` (`auto`: mixed_bfloat16 where the hardware has bf16); "
        "validation, evaluation and the shipped files in float32.",
        f"- Sigmas {', '.join(f'{s:g}' for s in config.sigmas)}; evaluation noise seeded per image.",
        "",
    ]


def _loss_scale(config: ReproduceConfig, docs: str) -> list[str]:
    """The loss scale of the joint runs: forced, or chosen on validation data (``loss_scale.md``)."""
    if config.loss_scale != "choose":
        return ["## Loss scale", "", f"`{config.loss_scale}` for both tasks, set by `--loss_scale`.", ""]
    if not os.path.exists(config.loss_scale_path()):
        return []
    with open(config.loss_scale_path()) as handle:
        choice = json.load(handle)
    page = os.path.relpath(os.path.join(config.docs_dir, "loss_scale.md"), docs)
    lines = [
        "## Loss scale",
        "",
        f"Chosen per task on validation data, never a test split ([{os.path.basename(page)}]"
        f"({page}): every checkpoint and the curves), by {choice['criterion']}:",
        "",
    ]
    heads = {stage.config.task: stage.config.train_split for stage in plan(config) if stage.name.startswith("head_")}
    for task, chosen in choice["chosen"].items():
        scales = choice["tasks"][task]
        summary = scales[chosen]
        others = "; ".join(f"{scale} {s['best']:.2f}%" for scale, s in scales.items() if scale != chosen)
        lines.append(
            f"- {task}: `{chosen}`, best validation {summary['metric'][len('val_') :]} "
            f"{summary['best']:.2f}% at step {summary['best_step']}"
            + (f" (vs {others})" if others else "")
            + f", {summary['steps']} steps at sigma {summary['sigma']:g}, {summary['val_images']} images of "
            f"`{summary['val_split']}`."
        )
        if task in heads and splits.overlap(heads[task], summary["val_split"]):
            lines.append(
                f"  The {task} head was trained on `{heads[task]}`, these validation images included, "
                "so its validation scores read high; the scales are compared on equal terms."
            )
        joint = f"joint_{SHORT[task]}_s{summary['sigma']:g}"
        kept = config.kept_history(joint), config.kept_history(f"loss_scale_{SHORT[task]}_{chosen}")
        if all(map(os.path.exists, kept)) and filecmp.cmp(*kept, shallow=False):
            lines.append(
                f"  The `{chosen}` run is also `{joint}` (the same flags but the scale's), shipped rather "
                "than trained again."
            )
    return lines + [""]


def _joint_curves(config: ReproduceConfig, docs: str) -> list[str]:
    """The joint runs' validation curves, from their histories kept under ``docs_dir/histories/``."""
    panels, rows = {}, []
    for task in TASKS:
        metric = validation_metric(task)
        for sigma in config.sigmas:
            name = f"joint_{SHORT[task]}_s{sigma:g}"
            keep_history(config, name, os.path.join(config.work_dir, name))  # a run made before stages kept it
            kept = config.kept_history(name)
            if not os.path.exists(kept):
                continue
            with open(kept) as handle:
                curve = validation_curve(json.load(handle), metric)
            if not curve:
                continue
            panels.setdefault(task, {})[f"sigma {sigma:g}"] = curve
            best = max(curve, key=lambda point: point[metric])
            rows.append(
                f"| {name} | {curve[0]['step']}: {curve[0][metric]:.2f} | {best['step']}: {best[metric]:.2f} "
                f"({best['val_psnr']:.2f} dB) | {curve[-1]['step']}: {curve[-1][metric]:.2f} |"
            )
    if not panels:
        return []
    path = plot_curves(panels, os.path.join(config.docs_dir, "joint_curves.png"))
    return [
        "## Joint training on validation data",
        "",
        "Validation top-1 (classification) / mIoU (segmentation), % (step: value); the best checkpoint is shipped.",
        "",
        "| run | first | best (PSNR) | last |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"![joint validation curves]({os.path.relpath(path, docs)})",
        "",
    ]


def _heads(config: ReproduceConfig, docs: str) -> list[str]:
    clean = head_quality(config)
    if not clean:
        return []
    lines = ["## Heads on clean test images", ""]
    for task, result in clean.items():
        value = (
            f"top-1 {result['top1']:.2f}%, top-5 {result['top5']:.2f}% (aim: 85% top-1)"
            if task == CLASSIFICATION.name
            else f"mIoU {result['miou']:.2f}% (aim: 45%)"
        )
        lines.append(f"- {task}: {value} on all {result['images']} test images.")
    trained_here = [t for t in TASKS if os.path.exists(os.path.join(config.work_dir, f"head_{SHORT[t]}", "eval.json"))]
    how = os.path.relpath(os.path.join(config.docs_dir, "HEADS.md"), docs)
    if not trained_here:
        where = (
            f"[{how}]({how}) says where and how they were"
            if os.path.exists(os.path.join(docs, how))
            else "they are " + " and ".join(f"`{config.head_path(t)}`" for t in clean)
        )
        lines.append(f"- The heads were not trained by this pipeline run: {where}.")
    return lines + [""]


def _tables(config: ReproduceConfig, docs: str, data_root: str) -> list[str]:
    results = load_results(config)
    if not results:
        return []
    plot_path = os.path.join(config.docs_dir, "scores_vs_sigma.png")
    plot_scores(results, plot_path)
    lines = ["## Tables", ""]
    evaluations = {stage.name: stage.config for stage in plan(config)}
    for task, state in results.items():
        table_path = os.path.join(config.eval_dir(task), "results.md")
        if os.path.exists(table_path):
            with open(table_path) as handle:
                table = handle.read().strip().replace(data_root, SHARED_DATA_TEXT)
        else:  # an evaluation interrupted before its first cell was whole (results.md follows each cell)
            table = task_scores.markdown_table(state, task).replace(data_root, SHARED_DATA_TEXT)
        lines += [f"### {task}", "", table, ""] + _unfinished(evaluations[f"evaluate_{SHORT[task]}"], state)
        lines += ["Findings checked on this table:", ""]
        records_of = store.records_reader(config.eval_dir(task))
        lines += [f"- {line}" for line in findings(task, state, records_of)] + [""]
    return lines + ["## Score vs sigma", "", f"![scores]({os.path.relpath(plot_path, docs)})", ""]


def _unfinished(evaluation: task_scores.TaskEvaluationConfig, state: dict) -> list[str]:
    """A warning line where the evaluation has not measured every cell of its table yet (none where it has)."""
    missing = task_scores.unmeasured_cells(evaluation)
    if not missing:
        return []
    planned = len(task_scores.table_cells(evaluation))
    parts = state.get("parts", {})
    under_way = [
        f"{s} {key} ({parts[s][key]['images']:,} images so far)" for s, key in missing if key in parts.get(s, {})
    ]
    return [
        f"**Unfinished**: {planned - len(missing)} of {planned} cells measured; not yet: "
        + ", ".join(f"{s} {key}" for s, key in missing)
        + (f". Under way: {', '.join(under_way)}" if under_way else "")
        + ". The findings below are checked on the measured cells only.",
        "",
    ]


def _examples(config: ReproduceConfig, docs: str) -> list[str]:
    examples = []
    for task in TASKS:
        path = example_figure(config, task, os.path.join(config.docs_dir, f"examples_{SHORT[task]}.png"))
        if path:
            examples.append(f"![{task} examples]({os.path.relpath(path, docs)})")
    return ["## Examples (largest sigma)", ""] + examples + [""] if examples else []


def _discussion(config: ReproduceConfig, docs: str) -> list[str]:
    discussion = os.path.join(config.docs_dir, "DISCUSSION.md")
    if not os.path.exists(discussion):  # written by a person who read the tables; kept across report rewrites
        return []
    with open(discussion) as handle:
        return ["## Discussion", "", f"(From `{os.path.relpath(discussion, docs)}`.)", "", handle.read().strip(), ""]


def _appendix(config: ReproduceConfig, docs: str) -> list[str]:
    """``appendix`` (another run's report) as lines: its title as the appendix's, its headings one level down
    and its relative links re-pointed from its folder to the report's."""
    if not config.appendix:
        return []
    if os.path.abspath(config.appendix) == os.path.abspath(config.results_path):
        raise ValueError(f"appendix {config.appendix} is the report itself")
    with open(config.appendix) as handle:
        text = handle.read().strip()
    source = os.path.dirname(os.path.abspath(config.appendix))

    def repointed(match: re.Match) -> str:
        target = match.group(1)
        if re.match(r"[a-z]+:|#|/", target):  # a URL, an anchor or an absolute path
            return match.group(0)
        return f"]({os.path.relpath(os.path.join(source, target), docs)})"

    text = re.sub(r"\]\(([^)\s]+)\)", repointed, text)
    title, _, body = text.partition("\n")
    lines, fenced = [], False
    for line in body.strip().split("\n"):
        fenced ^= line.startswith("```")
        lines.append("#" + line if not fenced and re.match(r"#+ ", line) else line)  # not a shell comment
    return [
        f"## Appendix: {title.lstrip('#').strip()}",
        "",
        f"([{os.path.basename(config.appendix)}]({os.path.relpath(config.appendix, docs)}), another run's "
        "report, as it was written.)",
        "",
        *lines,
        "",
    ]


def write_report(config: ReproduceConfig) -> str:
    """Writes ``results_path`` (RESULTS.md) from the measured tables; returns its path."""
    docs = os.path.dirname(os.path.abspath(config.results_path))
    data_root = os.path.abspath(config.data_root)
    title = "at CPU scale" if _reduced(config) else "with the full-size denoiser"
    lines = [
        f"# High-level findings {title}: CIFAR-10 and CamVid",
        "",
        "Generated by `python -m experiments.reproduce` from the measured tables in "
        f"`{config.docs_dir}/*/results.json`; the shipped weights are in `{config.models_dir}/`.",
        "",
    ]
    lines += _setup(config) + _loss_scale(config, docs) + _heads(config, docs) + _joint_curves(config, docs)
    lines += _tables(config, docs, data_root) + _examples(config, docs)
    lines += _discussion(config, docs)
    settings = [name for name in changed_fields(config) if name != "data_root"]
    lines += [
        "## Commands",
        "",
        "```bash",
        shlex.join(["python", "-m", "experiments.reproduce", *flag_args(config, settings)])
        + "   # resumable: re-run to go on; it runs these:",
        "",
    ]
    for stage in plan(config):
        if (
            stage.name.startswith("head_")
            and config.head_of_another_run(stage.config.task)
            and not os.path.exists(stage.config.model_dir)
        ):
            lines.append(f"# {stage.name}: reused, {stage.ship_to}")  # a head of another run or shipped by hand
            continue
        lines.append(shlex.join(stage.command()).replace(data_root, SHARED_DATA_TEXT))
    lines += ["```", ""]
    lines += _appendix(config, docs)
    return atomic.write_text(config.results_path, "\n".join(lines))
