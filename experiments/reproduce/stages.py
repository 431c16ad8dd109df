"""The pipeline's stages and running them: heads on clean data, separate denoisers per sigma, the loss scale
chosen on validation data (short joint runs per scale, then ``experiments/reproduce/loss_scale.py``), joint
denoisers per sigma (validated at every checkpoint, the best shipped), the Tables IV/V evaluation.

Each stage is one library call with a config dataclass (``training.head_training.run_head_training``,
``separate.run_training``, ``joint.run_joint_training``, ``evaluation.tasks.evaluate_cells``), run
in this process with its output (Python, Keras progress, TensorFlow's own lines) in
``<work_dir>/logs/<stage>.log``. A stage is skipped once its output exists (a loss-scale run also once the
choice it serves is made); the library calls resume from their checkpoints, so an interrupted pipeline loses
at most one checkpoint interval when re-run. Trained weights are shipped (copied) under ``models_dir`` and
the evaluation reads them from there.

A stage that reads what earlier stages shipped (``Stage.reads``: a head, a separate denoiser, the chosen loss
scale, the joint denoisers) stamps its output with their identities (``<output>.inputs.json``: file name and a
hash of the model's configuration and weights, or the scale). Once one of them changes (a better head shipped by hand, a stage re-run), the
output is stale: the stage counts as not done and runs again, from a fresh run folder, and so do the stages
that read what it ships. Outputs made before stamps were written count as made from the files there now (the
pipeline stamps them so). The heads and separate stages read nothing of the pipeline's: a head shipped by hand
or a re-shipped zoo model that a separate run started from does not make them stale.

A stage's config holds the fields of its entry point's flags (``train/train_head.py`` ...), so each stage
is also one command line (``Stage.command``), which the report lists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from experiments.reproduce import loss_scale
from experiments.reproduce.config import ReproduceConfig, per_task
from keras_semdenoise import atomic
from keras_semdenoise.config_flags import flag_args
from keras_semdenoise.evaluation import store, task_scores
from keras_semdenoise.evaluation.denoising import model_identity_or_none
from keras_semdenoise.models import shipped
from keras_semdenoise.task_kinds import CLASSIFICATION, SEGMENTATION, SHORT, TASKS
from keras_semdenoise.training import head_training, joint, runs, separate, ship
from keras_semdenoise.training.losses import LOSS_SCALES


def evaluate_task(config: task_scores.TaskEvaluationConfig) -> dict:
    """One task's table, as ``tools/evaluate_task.py`` measures it (results.json and results.md in ``out``)."""
    return task_scores.evaluate_cells(config, *task_scores.open_evaluation(config))


# Entry point (the module whose flags are the config's fields) -> (its config class, the library call).
ENTRY_POINTS: dict[str, tuple[type, Callable]] = {
    "train.train_head": (head_training.HeadConfig, head_training.run_head_training),
    "train.train_denoiser": (separate.TrainConfig, separate.run_training),
    "train.train_joint": (joint.JointConfig, joint.run_joint_training),
    "tools.evaluate_task": (task_scores.TaskEvaluationConfig, evaluate_task),
    "experiments.reproduce.choose_loss_scale": (loss_scale.LossScaleChoiceConfig, loss_scale.choose_loss_scale),
}


@dataclasses.dataclass
class Stage:
    """One step: the library call of ``entry_point`` on ``config``, whose finished product is ``output``
    (shipped to ``ship_to`` if set). ``given``: the fields the plan sets, in the order ``command`` lists them.
    ``done_with``: a later stage that makes this one needless once it is done (a loss-scale run's choice).
    ``ship``: how ``output`` becomes ``ship_to`` (a copy, or the network alone for a separate run).
    ``same_run``: returns the run folder of a finished run that trained exactly this (the chosen loss-scale run is
    the joint run at its sigma), whose output is shipped instead of training again; ``None`` while there is none.
    ``reads``: returns ``{what: identity}`` of the earlier products the output is made from (``model_identity_or_none``),
    stamped beside the product; called only once those products exist."""

    name: str
    entry_point: str
    config: Any
    given: tuple[str, ...]
    output: str
    ship_to: str | None = None
    done_with: Callable[[], bool] | None = None
    # Whether an existing product is whole (an evaluation's results.md is written after each of its cells).
    complete: Callable[[], bool] | None = None
    ship: Callable[[str, str], Any] = atomic.copy_file  # (output, ship_to): how the output is shipped
    same_run: Callable[[], str | None] | None = None
    reads: Callable[[], dict] | None = None

    @property
    def product(self) -> str:
        return self.ship_to or self.output

    def inputs(self) -> dict:
        return self.reads() if self.reads else {}

    def stamp_path(self) -> str:
        return f"{self.product}.inputs.json"

    def stamp(self) -> dict | None:
        """The inputs the product was stamped with (None: made before stamps, or not made)."""
        if not os.path.exists(self.stamp_path()):
            return None
        with open(self.stamp_path()) as handle:
            return json.load(handle)

    def write_stamp(self) -> None:
        if self.reads:
            atomic.write_json(self.stamp_path(), dict(sorted(self.inputs().items())), indent=2)

    def stale(self) -> bool:
        """The product exists but was made from other inputs than those there now."""
        stamp = self.stamp()
        return bool(self.reads) and stamp is not None and os.path.exists(self.product) and stamp != self.inputs()

    def done(self) -> bool:
        if os.path.exists(self.product):
            return not self.stale() and (self.complete is None or self.complete())
        return bool(self.done_with and self.done_with())

    def run(self):
        return ENTRY_POINTS[self.entry_point][1](self.config)

    def command(self) -> list[str]:
        """The same run as one command: ``python -m <entry point>`` and a flag per field the plan sets."""
        return ["python", "-m", self.entry_point, *flag_args(self.config, self.given)]


def _stage(
    name: str,
    entry_point: str,
    values: dict,
    output: str,
    ship_to: str | None = None,
    ship: Callable[[str, str], Any] = atomic.copy_file,
    reads: Callable[[], dict] | None = None,
) -> Stage:
    config_class = ENTRY_POINTS[entry_point][0]
    return Stage(name, entry_point, config_class(**values), tuple(values), output, ship_to, ship=ship, reads=reads)


def _files_read(**paths: str) -> Callable[[], dict]:
    return lambda: {name: model_identity_or_none(path) for name, path in paths.items()}


def _ship_network(final_model: str, ship_to: str) -> None:
    """A separate run's final model shipped as the network alone, float32 (``final.keras`` also holds the
    optimizer's state: three times the size of the full-size denoiser's 4 MiB, of no use to a user)."""
    ship.export_shipped_model(os.path.dirname(final_model), ship_to, use_best=False)


def _ship_head(head: str, ship_to: str, clean_to: str) -> None:
    """A head is shipped with its clean test result (its run's ``eval.json``) beside it (``head_clean_path``)."""
    atomic.copy_file(head, ship_to)
    measured = os.path.join(os.path.dirname(head), "eval.json")
    if os.path.exists(measured):
        atomic.copy_file(measured, clean_to)


def _task_values(config: ReproduceConfig, task: str) -> dict:
    values = {"task": task, "data": config.data(task)}
    if task == SEGMENTATION.name:
        values.update(num_classes=config.seg_num_classes, ignore_index=config.seg_ignore_index)
    return values


def _head_stage(config: ReproduceConfig, task: str) -> Stage:
    run = os.path.join(config.work_dir, f"head_{SHORT[task]}")
    width = per_task(task, {"hidden_units": config.cls_hidden_units}, {"fc_units": config.seg_fc_units})
    values = {
        **_task_values(config, task),
        "model_dir": run,
        "width_divisor": per_task(task, config.cls_width_divisor, config.seg_width_divisor),
        "batch_norm": config.head_batch_norm,
        "crop_size": per_task(task, config.cls_crop, config.seg_head_crop),
        "batch_size": per_task(task, config.cls_head_batch, config.seg_head_batch),
        "steps": per_task(task, config.cls_head_steps, config.seg_head_steps),
        "learning_rate": config.head_learning_rate,
        "checkpoint_every": config.checkpoint_every,
        "lr_schedule": config.head_lr_schedule,
        "dtype_policy": config.dtype_policy,
        "eval_split": "test",
        "eval_batches": 0,
        "seed": config.seed,
        "verbose": 2,
        **width,
    }
    if config.head_validation:  # the validation split is then never trained on
        values.update(
            train_split=per_task(task, config.cls_train_split, config.seg_train_split),
            val_split=per_task(task, config.cls_val_split, config.seg_val_split),
        )
    return _stage(
        f"head_{SHORT[task]}",
        "train.train_head",
        values,
        os.path.join(run, "head.keras"),
        config.head_path(task),
        ship=lambda head, to: _ship_head(head, to, config.head_clean_path(task)),
    )


def _separate_stage(config: ReproduceConfig, sigma: float) -> Stage:
    run = os.path.join(config.work_dir, f"separate_s{sigma:g}")
    values = {
        "model_dir": run,
        "data_dir": config.denoiser_data_dir(),
        "sigma": sigma,
        "steps": config.separate_steps,
        "batch_size": config.separate_batch,
        "patch_size": config.separate_patch,
        "checkpoint_every": config.checkpoint_every,
        "eval_images": config.separate_eval_images,
        "stem_filters": config.stem_filters,
        "encoder_filters": config.encoder_filters,
        "decoder_filters": config.decoder_filters,
        "learning_rate": config.separate_learning_rate,
        "dtype_policy": config.dtype_policy,
        "seed": config.seed,
        "verbose": 2,
    }
    if config.separate_init:
        # The per-sigma model nearest the stage's level starts its fine-tune (a different question from which
        # model serves a level, where the blind model comes before a per-sigma one trained for another level).
        per_sigma = shipped.shipped_models(config.separate_init)
        if not per_sigma:
            raise FileNotFoundError(f"no per-sigma denoiser in {config.separate_init} to start from")
        values["init_weights"] = per_sigma[min(per_sigma, key=lambda level: abs(level - sigma))]
    return _stage(
        f"separate_s{sigma:g}",
        "train.train_denoiser",
        values,
        os.path.join(run, "final.keras"),
        config.denoiser_path("separate", sigma),
        ship=_ship_network,
    )


def _joint_values(config: ReproduceConfig, task: str, sigma: float, run: str, steps: int, scale: dict) -> dict:
    """A joint run from the separate denoiser at ``sigma``, validated at each checkpoint; ``scale``: its
    ``loss_scale`` or ``loss_scale_file`` setting."""
    return {
        **_task_values(config, task),
        "model_dir": run,
        "head": config.head_path(task),
        "denoiser_init": config.denoiser_path("separate", sigma),
        "sigma": sigma,
        **scale,
        "train_split": per_task(task, config.cls_train_split, config.seg_train_split),
        "val_split": per_task(task, config.cls_val_split, config.seg_val_split),
        "val_images": per_task(task, config.cls_val_images, config.seg_val_images),
        "crop_size": per_task(task, config.cls_crop, config.seg_crop),
        "batch_size": per_task(task, config.cls_batch, config.seg_batch),
        "steps": steps,
        "learning_rate": config.joint_learning_rate,
        "checkpoint_every": config.joint_checkpoint_every(steps),
        "dtype_policy": config.dtype_policy,
        "seed": config.seed,
        "verbose": 2,
    }


def _joint_reads(config: ReproduceConfig, task: str, sigma: float, stage_scale=None) -> Callable[[], dict]:
    """A joint run's inputs: its head and separate denoiser, and (``stage_scale``: the stage, whose config
    resolves it) the loss scale it trained with."""
    files = _files_read(head=config.head_path(task), separate=config.denoiser_path("separate", sigma))

    def reads() -> dict:
        inputs = files()
        if stage_scale is not None:
            inputs["loss_scale"] = stage_scale.config.resolved_loss_scale()
        return inputs

    return reads


def _loss_scale_run(config: ReproduceConfig, task: str, scale: str) -> str:
    return os.path.join(config.work_dir, "loss_scale", f"{SHORT[task]}_{scale}")


def _loss_scale_stages(config: ReproduceConfig) -> list[Stage]:
    """Short joint runs per task and scale at ``study_sigma``, then the choice (none when a scale is forced)."""
    if config.loss_scale != "choose":
        return []
    sigma = config.study_sigma()
    study = []
    for task in TASKS:
        for scale in LOSS_SCALES:
            run = _loss_scale_run(config, task, scale)
            values = _joint_values(config, task, sigma, run, config.study_steps(), {"loss_scale": scale})
            study.append(
                _stage(
                    f"loss_scale_{SHORT[task]}_{scale}",
                    "train.train_joint",
                    values,
                    os.path.join(run, "denoiser.keras"),
                    reads=_joint_reads(config, task, sigma),
                )
            )
    values = {"runs": tuple(stage.config.model_dir for stage in study), "out": config.docs_dir}
    choose = _stage(
        "choose_loss_scale",
        "experiments.reproduce.choose_loss_scale",
        values,
        config.loss_scale_path(),
        reads=lambda: {
            f"{SHORT[stage.config.task]}_{name}": value for stage in study for name, value in stage.inputs().items()
        },
    )
    for stage in study:
        stage.done_with = _study_done(choose, stage.config.task)
    return study + [choose]


def _study_done(choose: Stage, task: str) -> Callable[[], bool]:
    """A loss-scale run is needless once the choice is made (``choose`` done), and also while the choice is to be
    made again for the other task only: its product is there and its stamp's entries for ``task`` are the inputs
    there now. ``choose_loss_scale`` then takes the run's summary from the last ``loss_scale.json`` if its (scratch)
    folder is gone, so a new CamVid head does not retrain the CIFAR-10 runs."""
    prefix = f"{SHORT[task]}_"

    def of_task(inputs: dict) -> dict:
        return {key: value for key, value in inputs.items() if key.startswith(prefix)}

    def done() -> bool:
        if choose.done():
            return True
        stamp = choose.stamp() if os.path.exists(choose.product) else None
        return stamp is not None and of_task(stamp) == of_task(choose.inputs())

    return done


def _joint_stage(config: ReproduceConfig, task: str, sigma: float) -> Stage:
    kind = f"joint_{SHORT[task]}"
    run = os.path.join(config.work_dir, f"{kind}_s{sigma:g}")
    scale = (
        {"loss_scale_file": config.loss_scale_path()}
        if config.loss_scale == "choose"
        else {"loss_scale": config.loss_scale}
    )
    values = _joint_values(config, task, sigma, run, config.joint_steps, scale)
    stage = _stage(
        f"{kind}_s{sigma:g}",
        "train.train_joint",
        values,
        os.path.join(run, "denoiser.keras"),
        config.denoiser_path(kind, sigma),
    )
    stage.reads = _joint_reads(config, task, sigma, stage)
    if config.loss_scale == "choose" and sigma == config.study_sigma() and config.study_steps() == config.joint_steps:
        # The loss-scale run of the chosen scale is this very run (the same flags but the scale's), so it is
        # shipped rather than trained again: at full size that saves two of the ten joint runs (~1 CPU-hour).
        def chosen_study_run() -> str | None:
            if not os.path.exists(config.loss_scale_path()):
                return None
            study = _loss_scale_run(config, task, stage.config.resolved_loss_scale())
            trained = os.path.join(study, os.path.basename(stage.output))
            if not os.path.exists(trained):
                return None
            stamp = os.path.join(study, f"{os.path.basename(stage.output)}.inputs.json")
            if os.path.exists(stamp):  # trained from the head and separate denoiser there now?
                with open(stamp) as handle:
                    if json.load(handle) != {k: v for k, v in stage.inputs().items() if k != "loss_scale"}:
                        return None
            return study

        stage.same_run = chosen_study_run
    return stage


def _evaluation_stage(config: ReproduceConfig, task: str) -> Stage:
    """The task's table from the shipped models (cross: the denoisers trained jointly with the other task)."""
    other = per_task(task, SEGMENTATION.name, CLASSIFICATION.name)
    batch, max_batches = config.eval_batches(task)
    values = {
        **_task_values(config, task),
        "split": "test",
        "head": config.head_path(task),
        "sigmas": config.sigmas,
        "separate": config.denoiser_path("separate", "{sigma}"),
        "joint": config.denoiser_path(f"joint_{SHORT[task]}", "{sigma}"),
        "cross": config.denoiser_path(f"joint_{SHORT[other]}", "{sigma}"),
        "crop_size": per_task(task, config.cls_crop, 0),
        "batch_size": batch,
        "max_batches": max_batches,
        "out": config.eval_dir(task),
        "cbm3d_cache": os.path.join(config.work_dir, "cbm3d_cache"),
        "workers": config.eval_workers,
        "part_images": per_task(task, config.cls_eval_part_images, config.seg_eval_part_images),
    }
    paths = {"head": config.head_path(task)}
    for setting in ("separate", "joint", "cross"):
        paths.update(
            {f"{setting}_s{sigma:g}": values[setting].replace("{sigma}", f"{sigma:g}") for sigma in config.sigmas}
        )
    # Stale once any model it measures has changed; it then measures again only the cells of what changed
    # (each kept cell records its own files: ``evaluation.tasks.cell_inputs``).
    stage = _stage(
        f"evaluate_{SHORT[task]}",
        "tools.evaluate_task",
        values,
        os.path.join(config.eval_dir(task), "results.md"),
        reads=_files_read(**paths),
    )
    stage.complete = lambda: not task_scores.unmeasured_cells(stage.config)
    return stage


def plan(config: ReproduceConfig) -> list[Stage]:
    """All stages in order: heads, separate denoisers, the loss-scale choice, joint denoisers, evaluations."""
    return (
        [_head_stage(config, task) for task in TASKS]
        + [_separate_stage(config, sigma) for sigma in config.sigmas]
        + _loss_scale_stages(config)
        # The study sigma's joint runs first: they are the chosen loss-scale runs, shipped straight after the
        # choice (``Stage.same_run``), while those scratch run folders are sure to be there.
        + [_joint_stage(config, task, config.study_sigma()) for task in TASKS]
        + [
            _joint_stage(config, task, sigma)
            for task in TASKS
            for sigma in config.sigmas
            if sigma != config.study_sigma()
        ]
        + [_evaluation_stage(config, task) for task in TASKS]
    )


@contextlib.contextmanager
def _output_into(log_path: str):
    """Everything printed meanwhile goes to ``log_path`` (appended), as when a stage ran as its own command:
    Python's streams, the descriptors 1 and 2 (TensorFlow's C++ lines), and log records from INFO up."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    root, level = logging.getLogger(), logging.getLogger().level
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    # A log grows while its stage runs (to follow it, and to keep what an interrupted stage printed), so it
    # is appended to in place rather than written atomically.
    with open(log_path, "a", buffering=1) as log:
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            root.setLevel(logging.INFO)
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield log
        finally:
            root.setLevel(level)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def run_stage(stage: Stage, log_path: str) -> None:
    """Runs one stage with its output in ``log_path``, then ships its output.

    Raises ``RuntimeError`` naming the stage and its log (last lines included) when it fails.
    """
    import keras

    failure = None
    with _output_into(log_path) as log:
        log.write(f"\n$ {shlex.join(stage.command())}\n")
        try:
            stage.run()
        except Exception as error:  # noqa: BLE001 - any failure of a stage is reported with its log
            failure = error
            log.write(traceback.format_exc())
        finally:
            keras.backend.clear_session()  # the next stage starts from a fresh Keras state
    if failure is not None or not os.path.exists(stage.output):
        with open(log_path) as handle:
            tail = "".join(handle.readlines()[-15:])
        reason = type(failure).__name__ if failure is not None else f"no {stage.output}"
        raise RuntimeError(f"stage {stage.name} failed ({reason}); log {log_path}:\n{tail}") from failure
    if stage.ship_to:
        stage.ship(stage.output, stage.ship_to)


def ship_same_run(stage: Stage, model_dir: str, log_path: str) -> None:
    """Ships the output of ``model_dir``, a finished run that trained what ``stage`` would (``Stage.same_run``),
    and says so in the stage's log."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "a") as log:
        log.write(
            f"\n$ {shlex.join(stage.command())}\nnot run: {model_dir} trained the same (its flags but the "
            f"loss scale, given there by name); its {os.path.basename(stage.output)} shipped to "
            f"{stage.ship_to}\n"
        )
    stage.ship(os.path.join(model_dir, os.path.basename(stage.output)), stage.ship_to)


def fresh_run_folder(stage: Stage) -> bool:
    """Empties a training stage's run folder if its checkpoints were made from other inputs than those there now
    (the inputs recorded when the run started differ; for a folder from before such records, its product is
    stale), then records the inputs of the run about to start or resume (``<model_dir>/inputs.json``), so a run
    started afresh and interrupted resumes. Returns whether it emptied the folder."""
    model_dir = getattr(stage.config, "model_dir", None)
    if not stage.reads or not model_dir:
        return False
    inputs, record = stage.inputs(), os.path.join(model_dir, "inputs.json")
    started = None
    if os.path.exists(record):
        with open(record) as handle:
            started = json.load(handle)
    # A folder without a record predates the records: emptied if the product it made is stale.
    emptied = os.path.isdir(model_dir) and (started != inputs if started is not None else stage.stale())
    if emptied:
        shutil.rmtree(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    atomic.write_json(record, dict(sorted(inputs.items())), indent=2)
    return emptied


def adopt_stamp(stage: Stage) -> bool:
    """Stamps a done stage's product made before stamps were written, as made from the inputs there now;
    returns whether it did."""
    if stage.reads and os.path.exists(stage.product) and stage.stamp() is None and stage.done():
        stage.write_stamp()
        return True
    return False


def adopt_stamps(config: ReproduceConfig) -> list[str]:
    """``adopt_stamp`` for every stage (``--stamp_only``: before a head or model is replaced by hand, so the
    outputs made from the old one are known to be); returns the names of the stages stamped."""
    return [stage.name for stage in plan(config) if adopt_stamp(stage)]


def changed_inputs(stage: Stage) -> list[str]:
    """The names of a stale stage's inputs that differ from its stamp."""
    stamp, inputs = stage.stamp() or {}, stage.inputs()
    return sorted(key for key in {*stamp, *inputs} if stamp.get(key) != inputs.get(key))


def keep_history(config: ReproduceConfig, stage_name: str, model_dir: str | None) -> None:
    """Copies a training stage's ``history.json`` from its run folder ``model_dir`` (if there is one) to
    ``config.kept_history`` (the report's curves)."""
    if model_dir and os.path.exists(os.path.join(model_dir, runs.HISTORY)):
        atomic.copy_file(os.path.join(model_dir, runs.HISTORY), config.kept_history(stage_name))


def stage_state(stage: Stage) -> str:
    """Where ``stage`` is, for a run spread over several sessions: ``done``; ``stale (...)``; ``step 1,000 of 3,000`` (a
    training stage with checkpoints in its run folder, which a restart resumes from); ``3 cells kept`` (an
    evaluation with cells kept); or ``to do``."""
    if stage.done():
        return "done"
    if stage.stale():
        return f"stale ({', '.join(changed_inputs(stage))} changed since it was made): to do again"
    same_run = stage.same_run() if stage.same_run else None
    if same_run:
        return f"trained in {same_run} (shipped on the next run)"
    model_dir = getattr(stage.config, "model_dir", None)
    if model_dir:
        history = runs.load_history(model_dir)
        if history:
            steps = getattr(stage.config, "steps", None)
            return f"step {history[-1]['step']:,}" + (f" of {steps:,}" if steps else "")
    if stage.entry_point == "tools.evaluate_task":
        state = store.load(stage.config.results_path())
        kept = sum(len(by_key) for by_key in state.get("cells", {}).values())
        parts = [
            f"{setting} {key}: {part['images']:,} images"
            for setting, by_key in state.get("parts", {}).items()
            for key, part in by_key.items()
        ]
        if kept or parts:
            return f"{kept} cells kept" + (f" ({'; '.join(parts)} measured of the next)" if parts else "")
    return "to do"


def run_stages(config: ReproduceConfig, progress: bool = True) -> list[str]:
    """Runs every stage not yet done; returns the names of the stages run. Re-running after a failure (or
    an interruption) goes on from there."""
    from tqdm import tqdm

    atomic.write_json(os.path.join(config.work_dir, "config.json"), dataclasses.asdict(config))
    ran = []
    bar = tqdm(plan(config), desc="reproduce", unit="stage", disable=not progress)
    for stage in bar:
        bar.set_postfix_str(stage.name)
        if stage.done():
            adopt_stamp(stage)
            continue
        start, log_path = time.time(), os.path.join(config.work_dir, "logs", f"{stage.name}.log")
        if stage.stale():
            bar.write(f"{stage.name}: stale ({', '.join(changed_inputs(stage))} changed since it was made), again")
        same_run = stage.same_run() if stage.same_run else None
        if same_run:
            ship_same_run(stage, same_run, log_path)
        else:
            if fresh_run_folder(stage):
                bar.write(f"{stage.name}: its run folder held checkpoints made from other inputs: started afresh")
            run_stage(stage, log_path)
        stage.write_stamp()
        keep_history(config, stage.name, same_run or getattr(stage.config, "model_dir", None))
        ran.append(stage.name)
        bar.write(
            f"{stage.name}: "
            + (
                f"shipped from {same_run}, which trained the same"
                if same_run
                else f"done in {time.time() - start:.0f} s"
            )
        )
    return ran
