"""The one definition of the tasks and evaluation settings, and everything that lists or checks them reads it."""

import dataclasses

import pytest

from keras_semdenoise import config_flags, joint_training, losses, noise, tasks
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import tasks as task_evaluation
from keras_semdenoise.heads.training import HeadConfig
from tools.reproduce import findings, stages


def test_tasks_their_short_names_and_the_paper_weights():
    assert tasks.TASKS == ("classification", "segmentation")
    assert tasks.SHORT == {"classification": "cls", "segmentation": "seg"}
    assert losses.JointLossWeights.paper("classification") == losses.JointLossWeights(0.5, 0.25)
    assert losses.JointLossWeights.paper("segmentation") == losses.JointLossWeights(0.5, 0.5)
    with pytest.raises(ValueError, match="task must be one of classification, segmentation, got 'detection'"):
        tasks.check_task("detection")
    with pytest.raises(ValueError, match="task must be one of"):
        losses.task_loss("detection", None, None)


def test_every_task_list_is_the_one_definition():
    for config_class in (HeadConfig, joint_training.JointConfig, task_evaluation.TaskEvaluationConfig,
                         sources.TaskDataConfig):
        assert config_flags.choices(config_class, "task") == tasks.TASKS
    assert stages.TASKS is tasks.TASKS and stages.SHORT is tasks.SHORT
    assert findings.SETTINGS is tasks.SETTINGS
    defaults = {f.name: f.default for f in dataclasses.fields(task_evaluation.TaskEvaluationConfig)}
    assert defaults["settings"] == tasks.SETTINGS == ("noisy", "cbm3d", "separate", "joint", "cross")
    assert list(tasks.SETTING_TITLES) == ["clean", *tasks.SETTINGS]
    with pytest.raises(ValueError, match=r"unknown settings \['denoised'\]: use noisy, cbm3d"):
        tasks.check_settings(["noisy", "denoised"])


def test_noise_names_index_in_split_or_file_stem():
    assert tasks.noise_name("classification", 7) == "classification:7"
    assert tasks.noise_name("segmentation", 0) == "segmentation:0"
    # A file is named by its stem, as the denoiser evaluation names it: the same noise in both.
    assert tasks.noise_name("classification", "/data/kodim01.png") == "kodim01"
    with pytest.raises(ValueError, match="task must be one of"):
        tasks.noise_name("detection", 1)
    assert noise.noise_seed(tasks.noise_name("classification", 3), 25) == noise.noise_seed("classification:3", 25)
