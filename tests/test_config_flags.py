"""Flags made from config dataclasses: the helper on a tiny config, and every entry point's flags against its
dataclass (same names, defaults and types), ``--help`` included."""

import dataclasses
import json
import subprocess
import sys

import pytest
from absl import flags
from conftest import REPO

from experiments.reproduce.config import ReproduceConfig
from keras_semdenoise import config_flags, noise
from keras_semdenoise.config_flags import setting
from keras_semdenoise.evaluation import task_scores
from keras_semdenoise.training import head_training, joint, separate


@dataclasses.dataclass
class _Tiny:
    path: str = setting(help="Where.")
    steps: int = setting(3, "Steps.")
    rate: float | None = setting(None, "Rate.")
    mode: str = setting("a", "Mode.", choices=("a", "b"))
    quiet: bool = setting(False, "Quiet.")
    widths: tuple[int, ...] = setting((8, 16), "Widths.")
    sigmas: tuple[float, ...] = setting((15.0, 2.5), "Sigmas.")


LIST = "comma separated list of strings"  # absl's flag_type() of DEFINE_list


def _tiny_flags(**overrides):
    values = flags.FlagValues()
    names = config_flags.define_flags(_Tiny, values, **overrides)
    return names, values


def test_flags_follow_the_field_types_defaults_and_help():
    names, values = _tiny_flags()
    assert names == [f.name for f in dataclasses.fields(_Tiny)]
    kinds = {name: values[name].flag_type() for name in names}
    assert kinds == {
        "path": "string",
        "steps": "int",
        "rate": "float",
        "mode": "string enum",
        "quiet": "bool",
        "widths": LIST,
        "sigmas": LIST,
    }
    assert values["widths"].default == ["8", "16"] and values["sigmas"].default == ["15", "2.5"]
    assert values["mode"].help == "<a|b>: Mode." and values["mode"].parser.enum_values == ["a", "b"]
    values(["prog", "--path=x", "--widths=1,2,3", "--mode=b", "--quiet"])
    config = config_flags.config_from_flags(_Tiny, values, steps=7)
    assert config == _Tiny(path="x", steps=7, mode="b", quiet=True, widths=(1, 2, 3), sigmas=(15.0, 2.5))


def test_a_config_written_back_as_flags_reads_back_the_same():
    config = _Tiny(path="x", steps=7, quiet=True, widths=(1, 2, 3), sigmas=(15.0, 2.5))
    changed = config_flags.changed_fields(config)
    assert changed == ["path", "steps", "quiet", "widths"]  # the required field and those off their defaults
    args = config_flags.flag_args(config, changed)
    assert args == ["--path=x", "--steps=7", "--quiet", "--widths=1,2,3"]
    assert config_flags.flag_args(_Tiny(path="x", rate=0.001), ["rate", "quiet", "sigmas"]) == [
        "--rate=0.001",
        "--noquiet",
        "--sigmas=15,2.5",
    ]
    _, values = _tiny_flags()
    values(["prog", *args])
    assert config_flags.config_from_flags(_Tiny, values) == config


def test_a_field_without_default_is_a_required_flag_unless_overridden():
    _, values = _tiny_flags()
    with pytest.raises(flags.IllegalFlagValueError, match="path"):
        values(["prog"])
    _, values = _tiny_flags(path={"required": False, "default": "here"})
    values(["prog"])
    assert values.path == "here"
    with pytest.raises(ValueError, match="does not have"):
        _tiny_flags(nothing={"default": 1})


def test_entry_point_runs_the_config_and_turns_user_errors_into_usage_errors():
    from absl import app

    _, values = _tiny_flags()
    values(["prog", "--path=x", "--steps=5"])
    seen = []
    main = config_flags.entry_point(_Tiny, seen.append, lambda: {"rate": 0.5}, flag_values=values)
    assert main(["prog"]) is None  # app.run passes main's return value to sys.exit
    assert seen == [_Tiny(path="x", steps=5, rate=0.5)]

    def refuse(config):
        raise FileNotFoundError(f"no {config.path}")

    with pytest.raises(app.UsageError, match="no x"):
        config_flags.entry_point(_Tiny, refuse, flag_values=values)(["prog"])


def test_choices_are_checked_on_the_config():
    with pytest.raises(ValueError, match="mode must be one of a, b"):
        config_flags.check_choices(_Tiny(path="x", mode="c"))
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, step, constant"):
        separate.TrainConfig(data_dir="x", model_dir="y", lr_schedule="linear").validate()


# Entry point -> (its config class, fields with no flag, flags whose default or required-ness the entry point
# changes on purpose: a path it resolves itself).
ENTRY_POINTS = {
    "train.train_denoiser": (separate.TrainConfig, (), ("data_dir",)),
    "train.train_head": (head_training.HeadConfig, (), ()),
    "train.train_joint": (joint.JointConfig, (), ()),
    "tools.evaluate_task": (task_scores.TaskEvaluationConfig, (), ()),
    "experiments.reproduce.__main__": (ReproduceConfig, (), ("data_root",)),
}
_DUMP = """
import importlib, json, sys
from absl import flags
module = importlib.import_module(sys.argv[1])
print(json.dumps({f.name: [f.flag_type(), f.default] for f in flags.FLAGS.flags_by_module_dict()[module.__name__]}))
"""


def _expected_default(field):
    default = config_flags.field_default(field)
    if isinstance(default, tuple):
        return [f"{v:g}" if isinstance(v, float) else str(v) for v in default]
    return default


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_entry_point_flags_are_the_config_fields_and_help_works(module):
    config_class, skipped, resolved = ENTRY_POINTS[module]
    dumped = subprocess.run(
        [sys.executable, "-c", _DUMP, module], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert dumped.returncode == 0, dumped.stderr
    defined = json.loads(dumped.stdout.strip().splitlines()[-1])
    fields = {f.name: f for f in dataclasses.fields(config_class) if f.name not in skipped}
    assert set(fields) <= set(defined)
    kinds = config_flags.field_types(config_class)
    for name, field in fields.items():
        if name not in resolved:
            assert defined[name][1] == _expected_default(field), name
        kind = kinds[name][0]
        expected = {bool: "bool", int: "int", float: "float", tuple: LIST}.get(kind, "string")
        if field.metadata.get("choices"):
            expected = "string enum"
        assert defined[name][0] == expected, name
    helped = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in helped.stderr, helped.stderr  # absl's --help exits with status 1
    for name in fields:
        assert f"--{name}" in helped.stdout or f"--[no]{name}" in helped.stdout, name


@pytest.mark.slow
def test_train_denoiser_sigma_defaults_to_the_paper_level_unless_training_blind():
    script = (
        "import sys; from absl import flags; from train import train_denoiser; "
        "from keras_semdenoise.apps.training_runs import denoiser_values; "
        "from keras_semdenoise.config_flags import config_from_flags; "
        "from keras_semdenoise.training.separate import TrainConfig; "
        "flags.FLAGS(['prog', '--model_dir=m', '--data_dir=d', *sys.argv[1:]]); "
        "print(config_from_flags(TrainConfig, **denoiser_values()).sigma)"
    )
    per_sigma = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    blind = subprocess.run(
        [sys.executable, "-c", script, "--sigma_range=0,75"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert per_sigma.stdout.split()[-1] == str(noise.DEFAULT_SIGMA_255), per_sigma.stderr
    assert blind.stdout.split()[-1] == "None", blind.stderr
