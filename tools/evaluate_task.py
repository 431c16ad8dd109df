"""The paper's Tables IV/V for any head and data set: task accuracy on noisy inputs per setting.

    python -m tools.evaluate_task --task classification --data ../shared/data/cifar10-jpeg \
        --head saved_models/head_cifar10.keras --crop_size 32 --sigmas 15,30,45,60 \
        --separate 'saved_models/denoiser_sigma{sigma}.keras' \
        --joint 'runs/joint_cls_s{sigma}/denoiser.keras' --cross 'runs/joint_seg_s{sigma}/denoiser.keras' \
        --out docs/task_cls

Settings: noisy (head on the noisy input), cbm3d, separate, joint, cross (a denoiser jointly
trained with the *other* task). ``{sigma}`` in a path is replaced per sigma; a missing file leaves
the cell empty. Also reports the PSNR of each setting's head input. Writes results.json
(resumable: cells already measured are kept) and results.md.
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from keras_semdenoise import atomic, baselines, inference, task_training
from keras_semdenoise.data import tasks

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, ["classification", "segmentation"], "High-level task.", required=True)
flags.DEFINE_string("data", None, "Data folder, or tfds:imagenet2012.", required=True)
flags.DEFINE_string("split", "test", "Evaluation split.")
flags.DEFINE_string("head", None, "The frozen head (.keras).", required=True)
flags.DEFINE_list("sigmas", ["15", "30", "45", "60"], "Noise levels (0..255 scale).")
flags.DEFINE_list("settings", ["noisy", "cbm3d", "separate", "joint", "cross"], "Settings to measure.")
flags.DEFINE_string("separate", None, "Separately trained denoiser path ({sigma} substituted).")
flags.DEFINE_string("joint", None, "Jointly trained denoiser (this task) path.")
flags.DEFINE_string("cross", None, "Denoiser jointly trained with the other task (cross-task) path.")
flags.DEFINE_integer("num_classes", None, "Segmentation classes (non-VOC folders).")
flags.DEFINE_integer("ignore_index", None, "Segmentation void label (non-VOC folders).")
flags.DEFINE_integer("crop_size", 224, "Classification input size / segmentation crop (0: whole images).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("max_batches", 0, "Evaluate only this many batches (0: the whole split).")
flags.DEFINE_string("data_dir", None, "tfds data_dir.")
flags.DEFINE_string("manual_dir", None, "tfds manual_dir.")
flags.DEFINE_string("out", "docs/task_evaluation", "Output folder.")


def denoise_batch_with(setting: str, sigma: float, paths: dict):
    """``f(batch) -> batch`` for a setting, or None when the setting has nothing for this sigma."""
    if setting == "noisy":
        return lambda batch: batch
    if setting == "cbm3d":
        return lambda batch: np.stack([baselines.cbm3d_denoise(image, sigma) for image in batch])
    pattern = paths.get(setting)
    path = pattern.replace("{sigma}", f"{sigma:g}") if pattern else None
    if not path or not os.path.exists(path):
        return None
    model = inference.load_denoiser(path)
    return lambda batch: np.stack([inference.denoise(model, image) for image in batch])


def main(argv):
    del argv
    from tqdm import tqdm

    try:
        split = tasks.load_split(FLAGS.task, FLAGS.data, FLAGS.split, FLAGS.ignore_index, FLAGS.num_classes,
                                 FLAGS.data_dir, FLAGS.manual_dir)
        head = task_training.load_head(FLAGS.head)
        sigmas = [float(s) for s in FLAGS.sigmas]
        unknown = set(FLAGS.settings) - set(task_training.SETTING_TITLES)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}: use {', '.join(task_training.SETTING_TITLES)}")
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    os.makedirs(FLAGS.out, exist_ok=True)
    results_path = os.path.join(FLAGS.out, "results.json")
    state = {"cells": {}}
    if os.path.exists(results_path):
        with open(results_path) as handle:
            state = json.load(handle)
    state.update(head=FLAGS.head, data=FLAGS.data, split=FLAGS.split)
    paths = {"separate": FLAGS.separate, "joint": FLAGS.joint, "cross": FLAGS.cross}
    crop = FLAGS.crop_size or None
    batches = FLAGS.max_batches or None
    jobs = [("clean", None)] + [(s, sigma) for sigma in sigmas for s in FLAGS.settings]
    for setting, sigma in tqdm(jobs, desc="settings", unit="cell"):
        key = "clean" if sigma is None else f"{sigma:g}"
        if key in state["cells"].get(setting, {}):
            continue
        denoise = None if sigma is None else denoise_batch_with(setting, sigma, paths)
        if sigma is not None and denoise is None:
            continue
        result = task_training.evaluate_head(head, split, FLAGS.batch_size, crop, batches, sigma, denoise)
        state["cells"].setdefault(setting, {})[key] = result
        atomic.write_json(results_path, state)
    table = task_training.markdown_table(state, FLAGS.task)
    with open(os.path.join(FLAGS.out, "results.md"), "w") as handle:
        handle.write(table + "\n")
    print(table)


if __name__ == "__main__":
    app.run(main)
