"""The one definition of the tasks and evaluation settings, and everything that lists or checks them reads it."""

import dataclasses

import pytest

from experiments.reproduce import findings, stages
from keras_semdenoise import config_flags, noise, task_kinds
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import task_scores
from keras_semdenoise.training import joint, losses
from keras_semdenoise.training.head_training import HeadConfig


def test_tasks_their_short_names_and_the_paper_weights():
    assert task_kinds.TASKS == ("classification", "segmentation")
    assert task_kinds.SHORT == {"classification": "cls", "segmentation": "seg"}
    assert losses.JointLossWeights.paper("classification") == losses.JointLossWeights(0.5, 0.25)
    assert losses.JointLossWeights.paper("segmentation") == losses.JointLossWeights(0.5, 0.5)
    with pytest.raises(ValueError, match="task must be one of classification, segmentation, got 'detection'"):
        task_kinds.check_task("detection")
    with pytest.raises(ValueError, match="task must be one of"):
        losses.task_loss("detection", None, None)


def test_every_task_list_is_the_one_definition():
    for config_class in (HeadConfig, joint.JointConfig, task_scores.TaskEvaluationConfig, sources.TaskDataConfig):
        assert config_flags.choices(config_class, "task") == task_kinds.TASKS
    assert stages.TASKS is task_kinds.TASKS and stages.SHORT is task_kinds.SHORT
    assert findings.SETTINGS is task_kinds.SETTINGS
    defaults = {f.name: f.default for f in dataclasses.fields(task_scores.TaskEvaluationConfig)}
    assert defaults["settings"] == task_kinds.SETTINGS == ("noisy", "cbm3d", "separate", "joint", "cross")
    assert list(task_kinds.SETTING_TITLES) == ["clean", *task_kinds.SETTINGS]
    with pytest.raises(ValueError, match=r"unknown settings \['denoised'\]: use noisy, cbm3d"):
        task_kinds.check_settings(["noisy", "denoised"])


def test_noise_names_index_in_split_or_file_stem():
    assert task_kinds.noise_name("classification", 7) == "classification:7"
    assert task_kinds.noise_name("segmentation", 0) == "segmentation:0"
    # A file is named by its stem, as the denoiser evaluation names it: the same noise in both.
    assert task_kinds.noise_name("classification", "/data/kodim01.png") == "kodim01"
    with pytest.raises(ValueError, match="task must be one of"):
        task_kinds.noise_name("detection", 1)
    assert noise.noise_seed(task_kinds.noise_name("classification", 3), 25) == noise.noise_seed("classification:3", 25)
