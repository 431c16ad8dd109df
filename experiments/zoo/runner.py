"""Trains the model zoo as a resumable queue of ``train.train_denoiser`` runs, one after another.

    python -m experiments.zoo --queue cpu --work runs/zoo          # the CPU queue (bf16 where native)
    python -m experiments.zoo --queue cpu --work runs/zoo --list   # what is done, what is next

Each stage is one run folder under ``--work``; a stage whose ``final.weights.h5`` exists is done and
skipped, an interrupted one resumes from its last checkpoint (kill it at any time, run the same
command again). Stages that start from another stage's model wait for it (``init`` names the stage, or
a shipped model ``saved_models/<name>.keras``). Logs: ``<work>/<stage>/train.log``. Shipping is a
separate, deliberate step (``tools/ship_model.py``) once a run's validation curve beats the shipped model.

The queues are data, ``experiments/zoo/queues.json``: the one place where the zoo's recipes are written down
(``{data_root}`` in a flag is the data folder), each stage with a note on why it ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

from absl import flags

from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.training import runs, separate


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training run: its name, where it starts from, and its ``train.train_denoiser`` flags."""

    name: str
    flags: tuple[str, ...]
    init: str | None = None  # another stage's name or a shipped model name (saved_models/<init>.keras)
    note: str = ""  # why it ran (and what the stage before it gave), as written when it was queued


QUEUES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queues.json")


def load_queues(path: str = QUEUES_FILE, data_root: str | None = None) -> dict[str, tuple[Stage, ...]]:
    """``{queue: stages}`` from the queues file, ``{data_root}`` in each flag replaced by ``data_root``
    (default: ``$SEMDENOISE_DATA_DIR`` or ``../shared/data``). Each queue there is ``{"note", "stages"}``."""
    root = data_root or default_data_root()
    with open(path) as handle:
        queues = json.load(handle)["queues"]
    return {
        name: tuple(
            Stage(
                s["name"],
                tuple(f.replace("{data_root}", root) for f in s["flags"]),
                s.get("init"),
                s.get("note", ""),
            )
            for s in queue["stages"]
        )
        for name, queue in queues.items()
    }


QUEUES = load_queues()

PROBE_EPOCHS, PROBE_STEPS = 3, 50  # the probe: 3 checkpoints of 50 steps; the first (compilation) is not timed
CHECKPOINTS_PER_SIZED_RUN = 4
RESERVE_SECONDS = 150.0

FLAGS = flags.FLAGS
flags.DEFINE_enum("queue", "cpu", sorted(QUEUES), "Which queue of stages to run.")
flags.DEFINE_string("work", "runs/zoo", "Folder of the stages' run folders.")
flags.DEFINE_string("models_dir", "saved_models", "Where shipped models named by a stage's init are.")
flags.DEFINE_list("only", None, "Run only these stages (names), in queue order.")
flags.DEFINE_multi_string(
    "extra_flags",
    [],
    "Flags added to every stage, comma-separated (e.g. "
    "--data_dir=packed:data/CBSD432.npz); may be repeated: all are added, in order, and a later "
    "value of the same flag wins (experiments/zoo/gpu_train.sh passes --data_dir first).",
)
flags.DEFINE_boolean("list", False, "Print each stage's state and exit.")
flags.DEFINE_boolean(
    "parallel", False, "Run the stages at the same time, one process each (none may start from another of them)."
)
flags.DEFINE_float(
    "seconds",
    0.0,
    "Size each stage to end within this many seconds from now (0: the stage's own "
    "--steps): a short probe of each measures its steps per second, then --steps, --checkpoint_every "
    "and --warmup_steps are set from it (the stage's --steps stays the most).",
)
flags.DEFINE_float(
    "reserve_seconds",
    RESERVE_SECONDS,
    "With --seconds: the seconds of a sized run not spent on "
    "training steps (start, compilation, evaluations, final save).",
)


def extra_flag_list(values) -> tuple[str, ...]:
    """The flags of every --extra_flags given, in order: each value is a comma-separated list."""
    return tuple(flag for value in values for flag in value.split(",") if flag)


def stage_dir(work: str, stage: Stage) -> str:
    return os.path.join(work, stage.name)


def is_done(work: str, stage: Stage) -> bool:
    return os.path.exists(os.path.join(stage_dir(work, stage), "final.weights.h5"))


def progress(work: str, stage: Stage) -> str:
    """Where a stage's run is, from its ``history.json``: ``step 7,000 of 13,000, best 30.02 dB at step 6,500``
    ('' before its first checkpoint). The total is the run's own (its ``config.json``: a sized run's), else the
    stage's."""
    history = runs.load_history(stage_dir(work, stage))
    if not history:
        return ""
    config_path = os.path.join(stage_dir(work, stage), "config.json")
    total = stage_int(stage, "steps")
    if os.path.exists(config_path):
        with open(config_path) as handle:
            total = json.load(handle).get("steps", total)
    text = f"step {history[-1]['step']:,}" + (f" of {total:,}" if total else "")
    best = runs.best_record(history, "eval_psnr")
    if best is not None:
        text += f", best {best['eval_psnr']:.2f} dB at step {best['step']:,}"
    return text


def init_path(work: str, models_dir: str, stage: Stage) -> str | None:
    """The weights a stage starts from: another stage's best weights or a shipped ``.keras`` model."""
    if stage.init is None:
        return None
    run = os.path.join(work, stage.init)
    if os.path.isdir(run):
        return os.path.join(run, "best.weights.h5")
    return os.path.join(models_dir, f"{stage.init}.keras")


def command(work: str, models_dir: str, stage: Stage, extra=()) -> list[str]:
    """The ``train.train_denoiser`` command line of a stage."""
    line = [
        sys.executable,
        "-m",
        "train.train_denoiser",
        f"--model_dir={stage_dir(work, stage)}",
        *stage.flags,
        "--verbose=2",
        *extra,
    ]
    init = init_path(work, models_dir, stage)
    if init:
        line.append(f"--init_weights={init}")
    return line


def stage_int(stage: Stage, name: str) -> int:
    """A stage's ``--name=`` value (the last one), or ``separate.TrainConfig``'s default for it."""
    values = [f.split("=", 1)[1] for f in stage.flags if f.startswith(f"--{name}=")]
    if values:
        return int(values[-1])
    return int({f.name: f for f in dataclasses.fields(separate.TrainConfig)}[name].default)


def sized_flags(stage: Stage, rate: float, seconds: float, reserve: float = RESERVE_SECONDS) -> tuple[str, ...]:
    """Flags that make ``stage`` end within ``seconds`` at ``rate`` steps per second, ``reserve`` seconds of them
    kept for its start, evaluations and save: ``--steps`` (a multiple of ``CHECKPOINTS_PER_SIZED_RUN`` x 10, or
    the stage's own where that fits), ``--checkpoint_every`` (a quarter of it) and ``--warmup_steps`` (the
    stage's, at most a tenth of the steps)."""
    unit = CHECKPOINTS_PER_SIZED_RUN * 10
    most = stage_int(stage, "steps")
    fits = int(rate * max(seconds - reserve, 0.0))
    steps = most if fits >= most else fits // unit * unit
    if steps < 1:
        raise SystemExit(f"[zoo] {stage.name}: {seconds:.0f} s at {rate:.2f} steps/s leave no time to train")
    warmup = min(stage_int(stage, "warmup_steps"), steps // 10)
    every = max(1, steps // CHECKPOINTS_PER_SIZED_RUN)
    return f"--steps={steps}", f"--checkpoint_every={every}", f"--warmup_steps={warmup}"


def _check_startable(work: str, models_dir: str, stage: Stage) -> None:
    init = init_path(work, models_dir, stage)
    if init and not os.path.exists(init):
        raise FileNotFoundError(f"{stage.name} starts from {init}, which does not exist (run {stage.init} first)")


def _start(work: str, models_dir: str, stage: Stage, extra) -> subprocess.Popen:
    os.makedirs(stage_dir(work, stage), exist_ok=True)
    line = command(work, models_dir, stage, extra)
    print(f"[zoo] {stage.name}: {' '.join(line[1:])}", flush=True)
    with open(os.path.join(stage_dir(work, stage), "train.log"), "a") as log:
        return subprocess.Popen(line, stdout=log, stderr=subprocess.STDOUT)


def _finish(stage: Stage, process: subprocess.Popen) -> None:
    if process.wait() != 0:
        raise SystemExit(f"[zoo] {stage.name} failed (exit {process.returncode}); see its train.log")
    print(f"[zoo] {stage.name}: finished", flush=True)


def run_queue(stages, work: str, models_dir: str, extra=(), parallel: bool = False, sized: dict | None = None) -> None:
    """Runs the stages not yet done, one after another (or all at once with ``parallel``); ``sized`` maps a stage
    name to flags added after ``extra`` (``sized_flags``)."""
    todo = []
    for stage in stages:
        if is_done(work, stage):
            print(f"[zoo] {stage.name}: done", flush=True)
            continue
        todo.append(stage)

    def flags_of(stage: Stage) -> tuple[str, ...]:
        return (*extra, *(sized or {}).get(stage.name, ()))

    if parallel:
        names = {s.name for s in todo}
        if any(s.init in names for s in todo):
            raise SystemExit("[zoo] --parallel: a stage starts from another stage of the same run")
        for stage in todo:
            _check_startable(work, models_dir, stage)
        started = [(s, _start(work, models_dir, s, flags_of(s))) for s in todo]
        for stage, process in started:
            _finish(stage, process)
        return
    for stage in todo:
        _check_startable(work, models_dir, stage)
        _finish(stage, _start(work, models_dir, stage, flags_of(stage)))


def probe_rates(stages, work: str, models_dir: str, extra=(), parallel: bool = False) -> dict:
    """Steps per second of each stage, from ``PROBE_EPOCHS`` x ``PROBE_STEPS`` steps without evaluation in
    ``<work>/_probe/<stage>`` (run as the stages will be: at the same time with ``parallel``)."""
    probe_work = os.path.join(work, "_probe")
    shutil.rmtree(probe_work, ignore_errors=True)
    probe = (
        f"--steps={PROBE_EPOCHS * PROBE_STEPS}",
        f"--checkpoint_every={PROBE_STEPS}",
        "--eval_images=0",
        "--warmup_steps=0",
    )
    run_queue(stages, probe_work, models_dir, (*extra, *probe), parallel=parallel)
    rates = {}
    for stage in stages:
        rate = runs.steps_per_second(runs.load_history(stage_dir(probe_work, stage)))
        if rate is None:
            raise SystemExit(f"[zoo] {stage.name}: the probe wrote no timed checkpoint")
        rates[stage.name] = rate
        print(f"[zoo] {stage.name}: {rate:.2f} steps/s", flush=True)
    return rates


def main(argv):
    del argv
    stages = [s for s in QUEUES[FLAGS.queue] if not FLAGS.only or s.name in FLAGS.only]
    if FLAGS.list:
        for stage in stages:
            state = (
                "done"
                if is_done(FLAGS.work, stage)
                else ("started" if os.path.isdir(stage_dir(FLAGS.work, stage)) else "to do")
            )
            where = progress(FLAGS.work, stage)
            print(
                f"{stage.name:16s} {state:8s} {f'({where}) ' if where else ''}{' '.join(stage.flags)}  "
                f"init={stage.init}"
            )
        return
    extra = extra_flag_list(FLAGS.extra_flags)
    sized = None
    if FLAGS.seconds:
        deadline = time.time() + FLAGS.seconds
        todo = [s for s in stages if not is_done(FLAGS.work, s)]
        rates = probe_rates(todo, FLAGS.work, FLAGS.models_dir, extra, FLAGS.parallel)
        sized = {s.name: sized_flags(s, rates[s.name], deadline - time.time(), FLAGS.reserve_seconds) for s in todo}
    run_queue(stages, FLAGS.work, FLAGS.models_dir, extra, parallel=FLAGS.parallel, sized=sized)
