"""The high-level tasks and the evaluation settings of the paper's Tables IV/V, in one place.

Everything that lists, checks or names a task reads it here: the config dataclasses' flag choices,
the losses, the cascade, the data readers, the tools and the reproduction pipeline. No heavy imports.
"""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Task:
    """One high-level task: its name, its short name (file names: ``head_cls.keras``), the paper's
    joint-loss weights (Sec. III-B: L = L_D + lambda_P L_P + lambda_H L_H) and the official code's
    weight of its reconstruction term (``losses.OFFICIAL_SCALE``: train_seg.prototxt ``recon_loss``
    ``loss_weight: 5e-9``; train_cls.prototxt 0)."""

    name: str
    short: str
    lambda_p: float
    lambda_h: float
    official_lambda_d: float


CLASSIFICATION = Task("classification", "cls", lambda_p=0.5, lambda_h=0.25, official_lambda_d=0.0)
SEGMENTATION = Task("segmentation", "seg", lambda_p=0.5, lambda_h=0.5, official_lambda_d=5e-9)
_BY_NAME = {task.name: task for task in (CLASSIFICATION, SEGMENTATION)}

TASKS = tuple(_BY_NAME)
SHORT = {name: task.short for name, task in _BY_NAME.items()}

# The settings of the paper's Tables IV/V (tools/evaluate_task.py), in table order, with their row titles.
# "clean" (the head on clean inputs) is measured once; the others once per sigma.
SETTING_TITLES = {
    "clean": "clean input (no noise)",
    "noisy": "noisy input",
    "cbm3d": "CBM3D + head",
    "separate": "separate + head",
    "joint": "joint",
    "cross": "joint cross-task",
}
SETTINGS = tuple(s for s in SETTING_TITLES if s != "clean")


def check_task(name: str) -> str:
    """Returns ``name`` if it is a task, else raises ValueError saying which are."""
    if name not in _BY_NAME:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return name


def get_task(name: str) -> Task:
    """The ``Task`` called ``name`` (ValueError for an unknown name)."""
    return _BY_NAME[check_task(name)]


def check_settings(names) -> tuple[str, ...]:
    """Returns ``names`` as a tuple if each is one of ``SETTINGS``, else raises ValueError."""
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown settings {unknown}: use {', '.join(SETTINGS)}")
    return tuple(names)


def noise_name(task_name: str, image: int | str) -> str:
    """The name a task image's evaluation noise is seeded with (``noise.add_seeded_gaussian_noise``).

    Args:
        task_name: the task.
        image: the image's index in its split (``"classification:7"``: the Tables IV/V cells and the
            reproduction's example figures), or a file path (its stem, as the denoiser evaluation
            names images, so one file gets the same noise in both).
    """
    check_task(task_name)
    if isinstance(image, str):
        return os.path.splitext(os.path.basename(image))[0]
    return f"{task_name}:{int(image)}"
