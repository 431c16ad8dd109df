import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
from conftest import TINY, classification_folder, run_module, segmentation_folder, write_images

from experiments import reproduce
from experiments.reproduce import findings
from keras_semdenoise.evaluation import intervals
from keras_semdenoise.evaluation.task_scores import TaskEvaluationConfig
from keras_semdenoise.training import losses
from keras_semdenoise.training.joint import JointConfig


def _config(root, **overrides):
    values = dict(
        data_root=str(root),
        work_dir=str(root / "work"),
        models_dir=str(root / "models"),
        docs_dir=str(root / "docs"),
        results_path=str(root / "docs" / "RESULTS.md"),
        sigmas=(30,),
        cls_data="cls",
        seg_data="seg",
        seg_num_classes=3,
        seg_ignore_index=3,
        denoiser_data="train_images",
        cls_width_divisor=16,
        seg_width_divisor=16,
        cls_hidden_units=8,
        seg_fc_units=8,
        cls_crop=16,
        seg_crop=16,
        cls_head_steps=2,
        seg_head_steps=2,
        cls_batch=4,
        seg_batch=2,
        cls_head_batch=4,
        seg_head_batch=2,
        seg_head_crop=16,
        stem_filters=TINY["stem_filters"],
        encoder_filters=TINY["encoder_filters"],
        decoder_filters=TINY["decoder_filters"],
        separate_steps=2,
        separate_batch=4,
        separate_patch=16,
        separate_eval_images=0,
        joint_steps=2,
        cls_eval_images=8,
        seg_eval_images=2,
        checkpoint_every=2,
        cls_train_split="train[:-3]",
        cls_val_split="train[-3:]",
        seg_train_split="train[:-2]",
        seg_val_split="train[-2:]",
        cls_val_images=0,
        seg_val_images=0,
        joint_validations=2,
    )
    values.update(overrides)
    return reproduce.ReproduceConfig(**values)


def test_plan_wires_every_stage_to_the_shipped_outputs_of_the_ones_before(tmp_path):
    config = _config(tmp_path, sigmas=(15, 60))
    stages = reproduce.plan(config)
    names = [s.name for s in stages]
    assert names == [
        "head_cls",
        "head_seg",
        "separate_s15",
        "separate_s60",
        "loss_scale_cls_paper",
        "loss_scale_cls_official",
        "loss_scale_seg_paper",
        "loss_scale_seg_official",
        "choose_loss_scale",
        "joint_cls_s60",
        "joint_seg_s60",
        "joint_cls_s15",
        "joint_seg_s15",
        "evaluate_cls",
        "evaluate_seg",
    ]
    joint = stages[names.index("joint_seg_s60")]
    assert isinstance(joint.config, JointConfig) and joint.config.sigma == 60.0
    assert joint.config.denoiser_init == config.denoiser_path("separate", 60)
    assert joint.config.head == config.head_path("segmentation") and joint.config.ignore_index == 3
    assert (joint.config.train_split, joint.config.val_split) == ("train[:-2]", "train[-2:]")
    assert joint.config.loss_scale_file == config.loss_scale_path() and joint.config.checkpoint_every == 1
    # The loss scale is chosen at the largest sigma on the validation split, then read by the joint stages.
    study = stages[names.index("loss_scale_cls_official")]
    assert (study.config.sigma, study.config.loss_scale, study.config.val_split) == (60.0, "official", "train[-3:]")
    assert study.config.denoiser_init == config.denoiser_path("separate", 60) and study.done_with
    choose = stages[names.index("choose_loss_scale")]
    assert choose.output == config.loss_scale_path()
    assert choose.command() == [
        "python",
        "-m",
        "experiments.reproduce.choose_loss_scale",
        "--runs=" + ",".join(stages[i].config.model_dir for i in range(4, 8)),
        f"--out={config.docs_dir}",
    ]
    assert f"--loss_scale_file={config.loss_scale_path()}" in joint.command()
    # The joint run at the loss-scale sigma is the chosen loss-scale run (the same steps): no run of its own once
    # chosen; with other steps, or at another sigma, there is none to reuse.
    assert joint.same_run() is None and stages[names.index("joint_seg_s15")].same_run is None
    shorter = reproduce.plan(_config(tmp_path, sigmas=(15, 60), loss_scale_steps=1))
    assert all(s.same_run is None for s in shorter)
    forced = reproduce.plan(_config(tmp_path, sigmas=(15, 60), loss_scale="official"))
    assert not any(s.name.startswith(("loss_scale", "choose")) for s in forced)
    assert "--loss_scale=official" in forced[names.index("joint_seg_s60") - 5].command()
    assert all(s.same_run is None for s in forced)
    with pytest.raises(ValueError, match="loss_scale_sigma must be one of sigmas"):
        _config(tmp_path, sigmas=(15, 60), loss_scale_sigma=30)
    with pytest.raises(ValueError, match="loss_scale must be one of"):
        _config(tmp_path, loss_scale="mean")
    evaluate = stages[names.index("evaluate_cls")]
    assert isinstance(evaluate.config, TaskEvaluationConfig) and evaluate.config.sigmas == (15.0, 60.0)
    assert evaluate.config.cross == f"{config.models_dir}/joint_seg_s{{sigma}}.keras"
    assert evaluate.config.max_batches == 2  # 8 images in batches of 4
    # Each stage is also one command of its entry point, with the flags the plan sets.
    assert f"--denoiser_init={config.denoiser_path('separate', 60)}" in joint.command()
    assert "--ignore_index=3" in joint.command() and "--sigma=60" in joint.command()
    assert evaluate.command()[:3] == ["python", "-m", "tools.evaluate_task"] and "--sigmas=15,60" in evaluate.command()
    head = stages[names.index("head_cls")].command()
    assert "--batch_norm" in head and "--learning_rate=0.001" in head and "--hidden_units=8" in head
    assert "--nobatch_norm" in reproduce.plan(_config(tmp_path, head_batch_norm=False))[0].command()
    # The shipped heads: the last checkpoint of a cosine run on all of train; opt-in: poly, chosen on validation.
    assert "--lr_schedule=cosine" in head and not any(f.startswith("--val_split") for f in head)
    assert all("--dtype_policy=auto" in s.command() for s in stages if s.entry_point.startswith("train."))
    forced = reproduce.plan(_config(tmp_path, dtype_policy="float32"))
    assert all(s.config.dtype_policy == "float32" for s in forced if s.entry_point.startswith("train."))
    chosen = {
        s.name: s.config for s in reproduce.plan(_config(tmp_path, head_validation=True, head_lr_schedule="poly"))[:2]
    }
    assert (chosen["head_cls"].train_split, chosen["head_cls"].val_split) == ("train[:-3]", "train[-3:]")
    assert (chosen["head_seg"].train_split, chosen["head_seg"].val_split) == ("train[:-2]", "train[-2:]")
    assert chosen["head_seg"].lr_schedule == "poly"
    with pytest.raises(ValueError, match="head_lr_schedule must be one of"):
        _config(tmp_path, head_lr_schedule="step")


def test_separate_denoisers_can_start_from_the_shipped_models_and_heads_can_be_reused(tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("denoiser_sigma15.keras", "denoiser_sigma50.keras", "denoiser_blind.keras"):
        (shipped / name).write_bytes(b"")  # the plan only looks the files up
    full = dict(stem_filters=64, encoder_filters=(128, 128), decoder_filters=(256,))
    config = _config(
        tmp_path,
        sigmas=(15, 30, 45, 60),
        separate_init=str(shipped),
        separate_learning_rate=2e-4,
        heads_dir=str(tmp_path / "heads"),
        **full,
    )
    stages = {s.name: s for s in reproduce.plan(config)}
    inits = {sigma: os.path.basename(stages[f"separate_s{sigma}"].config.init_weights) for sigma in (15, 30, 45, 60)}
    assert inits == {
        15: "denoiser_sigma15.keras",
        30: "denoiser_sigma15.keras",
        45: "denoiser_sigma50.keras",
        60: "denoiser_sigma50.keras",
    }
    assert stages["separate_s30"].config.learning_rate == 2e-4
    assert f"--init_weights={shipped / 'denoiser_sigma50.keras'}" in stages["separate_s60"].command()
    assert stages["head_seg"].ship_to == str(tmp_path / "heads" / "head_seg.keras")
    assert stages["joint_seg_s30"].config.head == str(tmp_path / "heads" / "head_seg.keras")
    assert stages["separate_s30"].ship_to.startswith(str(tmp_path / "models"))
    # Reused heads bring their clean test results (kept beside them) into this run's report.
    from experiments.reproduce.report import head_quality

    (tmp_path / "heads").mkdir()
    (tmp_path / "heads" / "head_seg.clean.json").write_text('{"images": 233, "miou": 41.95}')
    assert head_quality(config) == {"segmentation": {"images": 233, "miou": 41.95}}
    # A head of this run only (seg_head): read and shipped there, the other head still from heads_dir.
    own = str(tmp_path / "models" / "newer_head_seg.keras")
    config = _config(
        tmp_path,
        sigmas=(15, 30, 45, 60),
        separate_init=str(shipped),
        heads_dir=str(tmp_path / "heads"),
        seg_head=own,
        **full,
    )
    stages = {s.name: s for s in reproduce.plan(config)}
    assert stages["head_seg"].ship_to == own and stages["joint_seg_s45"].config.head == own
    assert stages["joint_cls_s45"].config.head == str(tmp_path / "heads" / "head_cls.keras")
    assert config.head_clean_path("segmentation") == str(tmp_path / "models" / "newer_head_seg.clean.json")
    assert config.head_of_another_run("segmentation")
    assert not _config(tmp_path).head_of_another_run("segmentation")
    # From scratch by default; the shipped widths are required to start from the shipped models.
    assert _config(tmp_path).separate_init == "" and not reproduce.plan(_config(tmp_path))[2].config.init_weights
    with pytest.raises(ValueError, match="stem_filters=64, encoder_filters=128,128, decoder_filters=256"):
        _config(tmp_path, separate_init=str(shipped))
    with pytest.raises(ValueError, match="no shipped per-sigma denoiser"):
        _config(tmp_path, separate_init=str(tmp_path / "heads"), **full)
    with pytest.raises(ValueError, match="sigmas"):
        _config(tmp_path, sigmas=(0,))


def test_findings_are_checked_against_the_numbers():
    cell = lambda top1, psnr: {"top1": top1, "top5": 99.0, "psnr": psnr, "images": 10}
    state = {
        "cells": {
            "separate": {"15": cell(80, 30.0), "60": cell(50, 24.0)},
            "cbm3d": {"15": cell(79, 29.5), "60": cell(48, 23.5)},
            "joint": {"15": cell(81, 29.8), "60": cell(56, 23.7)},
            "cross": {"15": cell(80.8, 29.9), "60": cell(49, 23.9)},
        }
    }
    lines = findings.findings("classification", state)
    assert lines[0].startswith("Joint beats Separate and CBM3D at every sigma: MATCHED")
    assert lines[1].startswith("The gap grows with sigma: MATCHED (s15 +1.00 -> s60 +6.00")
    assert lines[2].startswith(
        "Cross-task is closer to Joint than Separate is: NOT MATCHED"
    )  # s60: 7 points off joint, separate 6
    assert lines[3].startswith("Joint costs a little PSNR (0 to 1 dB): MATCHED")
    assert "standard error of up to 15.8 points" in lines[4]  # 50% of 10 images: sqrt(.25 / 10)
    # Before the CBM3D cells are measured, the findings on joint against separate are checked all the same.
    del state["cells"]["cbm3d"]["60"]
    lines = findings.findings("classification", state)
    assert lines[0] == (
        "Joint beats Separate and CBM3D at every sigma: MATCHED (joint - separate: s15 +1.00, s60 +6.00; "
        "joint - CBM3D: s15 +2.00 points; CBM3D not yet measured at s60)."
    )
    assert lines[1].startswith("The gap grows with sigma: MATCHED (s15 +1.00 -> s60 +6.00")
    assert lines[3].startswith("Joint costs a little PSNR (0 to 1 dB): MATCHED (joint - separate: s15 -0.20 dB, s60")


def test_findings_quote_each_difference_with_its_interval_when_records_exist():
    rng = np.random.default_rng(0)
    right = {"separate": 0.6, "cbm3d": 0.55, "joint": 0.7, "cross": 0.68}
    records = {
        (setting, "30"): {
            "top1": rng.random(200) < rate,
            "top5": np.ones(200, bool),
            "psnr": rng.normal(25.0 - 0.5 * (setting == "joint"), 0.1, 200),
        }
        for setting, rate in right.items()
    }
    state = {
        "cells": {
            setting: {
                "30": {
                    "images": 200,
                    "psnr": float(records[setting, "30"]["psnr"].mean()),
                    "top1": 100.0 * records[setting, "30"]["top1"].mean(),
                    "top5": 100.0,
                }
            }
            for setting in right
        }
    }
    lines = findings.findings("classification", state, lambda setting, key: records.get((setting, key)))
    joint_separate = intervals.paired_bootstrap(records["joint", "30"], records["separate", "30"], "top1").text(2)
    assert f"(joint - separate: s30 {joint_separate}; joint - CBM3D: s30 +" in lines[0]
    assert not any(line.startswith("The gap grows") for line in lines)  # one sigma: nothing to grow over
    assert "(cross - joint " in lines[1] and " dB)." in lines[2] and "[-0." in lines[2]
    assert lines[-1].startswith("In brackets: 95% intervals of a paired bootstrap over the 200 images")
    assert lines[0].startswith("Joint beats Separate and CBM3D at every sigma: MATCHED (")  # both intervals above 0
    # A joint denoiser right on one image more than separate: ahead on the point value, not conclusively.
    close = records["separate", "30"]["top1"].copy()
    close[np.flatnonzero(~close)[0]] = True
    records["joint", "30"] = {**records["joint", "30"], "top1": close}
    state["cells"]["joint"]["30"]["top1"] = 100.0 * close.mean()
    lines = findings.findings("classification", state, lambda setting, key: records.get((setting, key)))
    assert lines[0].startswith("Joint beats Separate and CBM3D at every sigma: MATCHED on the point values (")
    assert lines[0].endswith("; not conclusive, the interval reaching 0: joint - separate s30, joint - CBM3D s30).")
    # Without records (results measured before they were kept) the same lines, without brackets.
    assert not any("[" in line for line in findings.findings("classification", state, lambda *key: None))


def test_an_unfinished_evaluation_is_not_done_and_the_report_says_which_cells_it_lacks(tmp_path):
    from experiments.reproduce.report import _unfinished
    from keras_semdenoise.evaluation import store

    config = _config(tmp_path, sigmas=(15, 30))
    for setting in ("separate", "joint", "cross"):  # every trained setting has its denoiser file
        for sigma in (15, 30):
            path = config.denoiser_path(
                setting if setting == "separate" else f"joint_{'seg' if setting == 'cross' else 'cls'}", sigma
            )
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").close()
    stage = next(s for s in reproduce.plan(config) if s.name == "evaluate_cls")
    cell = {"top1": 80.0, "top5": 99.0, "images": 10}
    state = {
        "cells": {
            "clean": {"clean": cell},
            **{s: {"15": cell} for s in ("cbm3d", "separate", "joint", "cross")},
            "noisy": {"15": cell, "30": cell},
        },
        "parts": {"cbm3d": {"30": {"batches": 16, "images": 1024}}},
    }
    store.save(stage.config.results_path(), state)
    open(stage.product, "w").close()  # results.md, written after each cell
    line, blank = _unfinished(stage.config, state)
    assert line.startswith(
        "**Unfinished**: 7 of 11 cells measured; not yet: cbm3d 30, separate 30, joint 30, cross 30."
    )
    assert "Under way: cbm3d 30 (1,024 images so far)" in line and blank == ""
    assert not stage.done()
    for setting in ("cbm3d", "separate", "joint", "cross"):
        state["cells"][setting]["30"] = cell
    store.save(stage.config.results_path(), state)
    assert _unfinished(stage.config, state) == [] and stage.done()


def test_another_run_s_report_is_appended_with_its_headings_down_and_its_links_re_pointed(tmp_path):
    from experiments.reproduce.report import _appendix

    old = tmp_path / "old" / "RESULTS.md"
    old.parent.mkdir()
    old.write_text(
        "# High-level findings at CPU scale\n\n## Tables\n\n![plot](reproduce/scores.png) and "
        "[HEADS](reproduce/HEADS.md#round), [paper](https://example.org/p.pdf)\n\n```bash\n"
        "# head_cls: reused\n```\n### classification\n"
    )
    config = _config(tmp_path, appendix=str(old))
    assert _appendix(_config(tmp_path), str(tmp_path / "docs")) == []
    text = "\n".join(_appendix(config, str(tmp_path / "docs")))
    assert text.startswith("## Appendix: High-level findings at CPU scale\n")
    assert "\n([RESULTS.md](../old/RESULTS.md), another run's report, as it was written.)\n" in text
    assert "\n### Tables\n" in text and "\n#### classification" in text and "\n# head_cls: reused\n" in text
    assert "![plot](../old/reproduce/scores.png)" in text and "[HEADS](../old/reproduce/HEADS.md#round)" in text
    assert "[paper](https://example.org/p.pdf)" in text
    with pytest.raises(ValueError, match="the report itself"):
        _appendix(_config(tmp_path, appendix=str(tmp_path / "docs" / "RESULTS.md")), str(tmp_path / "docs"))


def test_stage_state_says_how_far_each_stage_is(tmp_path):
    from experiments.reproduce.stages import stage_state

    config = _config(tmp_path, separate_steps=6)
    stages = {s.name: s for s in reproduce.plan(config)}
    assert {stage_state(s) for s in stages.values()} == {"to do"}
    # A training stage's run folder with checkpoints (what a restart resumes from), then its shipped output.
    separate = stages["separate_s30"]
    os.makedirs(separate.config.model_dir)
    with open(os.path.join(separate.config.model_dir, "history.json"), "w") as handle:
        json.dump([{"step": 0, "eval_psnr": 20.0}, {"step": 2, "eval_psnr": 21.0}], handle)
    assert stage_state(separate) == "step 2 of 6"
    os.makedirs(os.path.dirname(separate.ship_to))
    open(separate.ship_to, "wb").close()
    assert stage_state(separate) == "done"
    # An evaluation with some cells kept.
    evaluation = stages["evaluate_cls"]
    os.makedirs(evaluation.config.out)
    with open(evaluation.config.results_path(), "w") as handle:
        json.dump({"cells": {"noisy": {"30": {}}, "cbm3d": {"30": {}}}}, handle)
    assert stage_state(evaluation) == "2 cells kept"
    with open(evaluation.config.results_path(), "w") as handle:
        json.dump({"cells": {"noisy": {"30": {}}}, "parts": {"cbm3d": {"30": {"batches": 2, "images": 2048}}}}, handle)
    assert stage_state(evaluation) == "1 cells kept (cbm3d 30: 2,048 images measured of the next)"
    assert evaluation.config.part_images == 1024 and stages["evaluate_seg"].config.part_images == 16


def test_a_replaced_head_makes_what_was_made_from_it_stale(tmp_path):
    from experiments.reproduce.stages import adopt_stamps, changed_inputs, fresh_run_folder, run_stages, stage_state

    config = _config(tmp_path, sigmas=(15, 60))
    stages = {s.name: s for s in reproduce.plan(config)}

    def put(path, content):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)

    # Every product of a finished run (bytes stand in for the models), made before stamps were written.
    for stage in stages.values():
        if stage.ship_to or stage.name.startswith("evaluate"):
            put(stage.product, stage.name.encode())
        if stage.name.startswith("evaluate"):  # a whole table: every cell measured
            cells = {setting: {f"{sigma:g}": {} for sigma in config.sigmas} for setting in stage.config.settings}
            put(stage.config.results_path(), json.dumps({"cells": {"clean": {"clean": {}}, **cells}}).encode())
    put(
        config.loss_scale_path(),
        json.dumps({"chosen": {"classification": "official", "segmentation": "paper"}}).encode(),
    )
    assert all(s.done() for s in stages.values()) and not any(os.path.exists(s.stamp_path()) for s in stages.values())
    # --stamp_only (and any pipeline run) stamps them with the inputs there now.
    # (The loss-scale runs' own outputs are scratch, gone here: the choice stands for them.)
    assert adopt_stamps(config) == [
        "choose_loss_scale",
        "joint_cls_s60",
        "joint_seg_s60",
        "joint_cls_s15",
        "joint_seg_s15",
        "evaluate_cls",
        "evaluate_seg",
    ]
    assert adopt_stamps(config) == [] and run_stages(config, progress=False) == []
    stamp = json.load(open(stages["joint_seg_s60"].stamp_path()))
    assert set(stamp) == {"head", "separate", "loss_scale"} and stamp["loss_scale"] == "paper"
    assert stamp["head"].startswith("head_seg.keras sha256:") and stamp["separate"].startswith(
        "separate_s60.keras sha256:"
    )
    assert set(json.load(open(stages["choose_loss_scale"].stamp_path()))) == {
        "cls_head",
        "cls_separate",
        "seg_head",
        "seg_separate",
    }
    assert not os.path.exists(stages["head_seg"].stamp_path())  # heads and separate runs read nothing of the pipeline's
    # A better segmentation head shipped by hand: what was made from it is to do again; classification is not
    # (its loss-scale runs neither: the choice is made again from their summaries in loss_scale.json).
    put(config.head_path("segmentation"), b"a better head")
    not_done = sorted(name for name, s in stages.items() if not s.done())
    assert not_done == sorted(
        [
            "loss_scale_seg_paper",
            "loss_scale_seg_official",
            "choose_loss_scale",
            "joint_seg_s15",
            "joint_seg_s60",
            "evaluate_seg",
        ]
    )
    assert stage_state(stages["joint_seg_s15"]) == "stale (head changed since it was made): to do again"
    assert changed_inputs(stages["choose_loss_scale"]) == ["seg_head"]
    # Its run folder held checkpoints of the old head: emptied before it runs again, then its inputs are recorded.
    joint = stages["joint_seg_s15"]
    put(os.path.join(joint.config.model_dir, "backup", "latest.weights.h5"), b"old")
    assert fresh_run_folder(joint) and os.listdir(joint.config.model_dir) == ["inputs.json"]
    assert not fresh_run_folder(joint)  # started afresh from these inputs: an interrupted run resumes
    # A run interrupted before it shipped anything is emptied too when it was started from other inputs.
    study = stages["loss_scale_seg_paper"]
    put(os.path.join(study.config.model_dir, "inputs.json"), json.dumps({"head": "head_seg.keras sha256:old"}).encode())
    assert fresh_run_folder(study) and os.listdir(study.config.model_dir) == ["inputs.json"]
    assert not fresh_run_folder(study)  # started from these inputs: resumed, not emptied
    # Re-shipped joint denoisers make the tables that measure them stale: the other task's too (cross-task).
    put(joint.ship_to, b"joint_seg_s15, trained again")
    joint.write_stamp()
    assert joint.done() and changed_inputs(stages["evaluate_cls"]) == ["cross_s15"]
    assert stage_state(stages["evaluate_cls"]).startswith("stale (cross_s15 changed")


@pytest.mark.slow
def test_list_prints_each_stage_and_runs_nothing(tmp_path):
    result = run_module(
        [
            "experiments.reproduce",
            "--list",
            f"--data_root={tmp_path}",
            f"--work_dir={tmp_path / 'work'}",
            f"--models_dir={tmp_path / 'models'}",
            f"--docs_dir={tmp_path / 'docs'}",
            "--sigmas=30",
        ]
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split(maxsplit=1) for line in result.stdout.strip().splitlines()]
    assert [name for name, _ in rows] == [
        "head_cls",
        "head_seg",
        "separate_s30",
        "loss_scale_cls_paper",
        "loss_scale_cls_official",
        "loss_scale_seg_paper",
        "loss_scale_seg_official",
        "choose_loss_scale",
        "joint_cls_s30",
        "joint_seg_s30",
        "evaluate_cls",
        "evaluate_seg",
    ]
    assert {state for _, state in rows} == {"to do"} and not (tmp_path / "work").exists()


@pytest.mark.slow
def test_the_whole_pipeline_runs_resumes_and_reports(tmp_path):
    from experiments.reproduce.stages import stage_state

    classification_folder(str(tmp_path / "cls"), size=16, per_class=3)
    segmentation_folder(str(tmp_path / "seg"), size=(24, 20))
    write_images(str(tmp_path / "train_images"), count=3, size=(40, 36))
    config = _config(tmp_path, cls_eval_images=4)  # one batch: 6 CBM3D estimates in all, not 10 (seconds each)
    ran = reproduce.run(config, progress=False)
    assert ran == [s.name for s in reproduce.plan(config)]
    for task in ("classification", "segmentation"):
        cells = json.load(open(tmp_path / "docs" / task / "results.json"))["cells"]
        assert set(cells) == {"clean", "noisy", "cbm3d", "separate", "joint", "cross"}
    assert sorted(os.listdir(tmp_path / "models")) == [
        "head_cls.clean.json",
        "head_cls.keras",
        "head_seg.clean.json",
        "head_seg.keras",
        "joint_cls_s30.keras",
        "joint_cls_s30.keras.inputs.json",
        "joint_seg_s30.keras",
        "joint_seg_s30.keras.inputs.json",
        "separate_s30.keras",
    ]
    # Each head is shipped with its clean test result beside it (what the report quotes).
    assert (tmp_path / "models" / "head_seg.clean.json").read_bytes() == (
        tmp_path / "work" / "head_seg" / "eval.json"
    ).read_bytes()
    # The separate denoiser is shipped as the network alone (its run's final.keras holds the optimizer too).
    import keras

    shipped = keras.saving.load_model(tmp_path / "models" / "separate_s30.keras")
    final = keras.saving.load_model(tmp_path / "work" / "separate_s30" / "final.keras")
    assert getattr(shipped, "optimizer", None) is None and final.optimizer is not None
    assert all(np.array_equal(a, b) for a, b in zip(shipped.get_weights(), final.get_weights()))
    report = (tmp_path / "docs" / "RESULTS.md").read_text()
    choice = json.load(open(tmp_path / "docs" / "loss_scale.json"))
    assert set(choice["chosen"]) == {"classification", "segmentation"}
    assert "| official | 0 / 0 / 1 | 0 |" in (tmp_path / "docs" / "loss_scale.md").read_text()
    assert "## Loss scale" in report and "(loss_scale.md)" in report and "'--val_split=train[-3:]'" in report
    commands = report.split("## Commands")[1]  # the pipeline's own command with this run's settings, then its stages
    assert f"python -m experiments.reproduce --work_dir={config.work_dir} " in commands and " --sigmas=30 " in commands
    assert "--data_root" not in commands and "python -m experiments.reproduce.choose_loss_scale --runs=" in commands
    assert "## Joint training on validation data" in report and (tmp_path / "docs" / "joint_curves.png").exists()
    kept = sorted(os.listdir(tmp_path / "docs" / "histories"))  # every training stage's curve, kept as it ended
    assert kept == [
        f"{name}.history.json"
        for name in sorted(
            [
                "head_cls",
                "head_seg",
                "separate_s30",
                "loss_scale_cls_paper",
                "loss_scale_cls_official",
                "loss_scale_seg_paper",
                "loss_scale_seg_official",
                "joint_cls_s30",
                "joint_seg_s30",
            ]
        )
    ]
    # The joint runs at the loss-scale sigma are the chosen loss-scale runs (the same flags but the scale's):
    # shipped from there, not trained again.
    for task, short in (("classification", "cls"), ("segmentation", "seg")):
        study = tmp_path / "work" / "loss_scale" / f"{short}_{choice['chosen'][task]}"
        assert not (tmp_path / "work" / f"joint_{short}_s30").exists()
        assert (tmp_path / "models" / f"joint_{short}_s30.keras").read_bytes() == (
            study / "denoiser.keras"
        ).read_bytes()
        assert "not run: " in (tmp_path / "work" / "logs" / f"joint_{short}_s30.log").read_text()
        assert f"The `{choice['chosen'][task]}` run is also `joint_{short}_s30`" in report
    joint = json.load(open(tmp_path / "docs" / "histories" / "joint_cls_s30.history.json"))
    assert [h["step"] for h in joint] == [0, 1, 2] and all("val_top1" in h for h in joint)
    assert "### classification" in report and "### segmentation" in report and "| joint |" in report
    assert "scores_vs_sigma.png" in report and "examples_seg.png" in report and "MATCHED" in report
    assert report.count("#### Differences (95% bootstrap intervals over images)") == 2
    assert "| joint - separate | " in report and "In brackets: 95% intervals of a paired bootstrap" in report
    assert "## Heads on clean test images" in report and "(aim: 45%)" in report
    assert (tmp_path / "docs" / "examples_cls.png").stat().st_size > 1000
    assert "## Discussion" not in report
    # Everything is done: a second run does nothing but the report, which takes in a written discussion.
    (tmp_path / "docs" / "DISCUSSION.md").write_text("Why the cross-task cell fell.")
    assert reproduce.run(config, progress=False) == []
    assert "## Discussion" in (tmp_path / "docs" / "RESULTS.md").read_text()
    assert "Why the cross-task cell fell." in (tmp_path / "docs" / "RESULTS.md").read_text()
    # A joint run shipped from its loss-scale run is shipped again from there if its shipped file is lost.
    os.remove(tmp_path / "models" / "joint_seg_s30.keras")
    joint_seg = next(s for s in reproduce.plan(config) if s.name == "joint_seg_s30")
    state = stage_state(joint_seg)
    assert state.startswith("trained in ") and state.endswith("(shipped on the next run)")
    assert reproduce.run(config, progress=False, report=False) == ["joint_seg_s30"]
    assert stage_state(joint_seg) == "done"
    # A failing stage names itself and its log.
    os.remove(tmp_path / "models" / "separate_s30.keras")
    with pytest.raises(RuntimeError, match="separate_s30 failed .* log"):
        reproduce.run(_config(tmp_path, cls_eval_images=4, denoiser_data="missing"), progress=False, report=False)
    log = (tmp_path / "work" / "logs" / "separate_s30.log").read_text()
    assert "$ python -m train.train_denoiser --model_dir=" in log and "Traceback" in log and "missing" in log
    # Fixed, it goes on from there: only that stage runs again (its run resumes from its last checkpoint).
    assert reproduce.run(config, progress=False, report=False) == ["separate_s30"]
    assert (tmp_path / "models" / "separate_s30.keras").exists()


def test_examples_are_picked_where_separate_and_joint_differ(tmp_path):
    scores = [(1, 1), (1, 0), (0, 1), (0, 0), (0, 1)]  # (separate right, joint right) per image
    chosen, note = findings.pick_examples("classification", scores, 3)
    assert chosen == [2, 4, 1] and "2 right only after joint and 1 only after separate" in note
    chosen, note = findings.pick_examples("segmentation", [(80.0, 81.0), (70.0, 75.0), (60.0, 59.0)], 4)
    assert chosen == [1] and "first 3 test frames" in note
    # Candidates: the first 64 images, and of CamVid no more frames than were evaluated (0: all).
    assert findings.example_pool(_config(tmp_path, seg_eval_images=0), "segmentation", 233) == 64
    assert findings.example_pool(_config(tmp_path, seg_eval_images=16), "segmentation", 233) == 16
    assert findings.example_pool(_config(tmp_path, seg_eval_images=16), "classification", 10000) == 64
    assert findings.example_pool(_config(tmp_path, seg_eval_images=0), "segmentation", 5) == 5


def _study_run(folder, task, scale, curve):
    """A finished loss-scale run folder: its config.json and a history of (step, metric) validations."""
    metric = "val_top1" if task == "classification" else "val_miou"
    weights = losses.JointLossWeights.for_scale(task, scale)
    os.makedirs(folder)
    config = {
        "task": task,
        "scale": scale,
        "sigma": 60.0,
        "steps": 4,
        "train_split": "train[:-5000]",
        "val_split": "train[-5000:]",
        "val_images": 500,
        **dataclasses.asdict(weights),
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "history.json").write_text(
        json.dumps([{"step": step, metric: value, "val_psnr": 25.0 + step, "val_images": 500} for step, value in curve])
    )
    return str(folder)


def test_the_loss_scale_with_the_better_validation_metric_is_chosen_and_read_by_the_joint_runs(tmp_path):
    from experiments.reproduce import loss_scale

    runs = [  # classification: paper peaks higher (55 at step 2) though official ends higher; segmentation: official
        _study_run(tmp_path / "cls_paper", "classification", "paper", [(0, 50.0), (2, 55.0), (4, 52.0)]),
        _study_run(tmp_path / "cls_official", "classification", "official", [(0, 50.0), (2, 53.0), (4, 54.0)]),
        _study_run(tmp_path / "seg_paper", "segmentation", "paper", [(0, 30.0), (2, 31.0), (4, 31.0)]),
        _study_run(tmp_path / "seg_official", "segmentation", "official", [(0, 30.0), (2, 35.0), (4, 33.0)]),
    ]
    config = _config(tmp_path, docs_dir=str(tmp_path / "docs"))
    # As the choose_loss_scale stage runs it, as one command.
    chosen = run_module(
        ["experiments.reproduce.choose_loss_scale", f"--runs={','.join(runs)}", f"--out={config.docs_dir}"]
    )
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    choice = json.load(open(config.loss_scale_path()))
    assert choice["chosen"] == {"classification": "paper", "segmentation": "official"}
    page = (tmp_path / "docs" / "loss_scale.md").read_text()
    assert "## classification: `paper`" in page and "paper 55.00% (step 2) vs official 54.00%." in page
    assert (
        "| official | 5e-09 / 0 / 1 | 4 | 33.00 | 29.00 |" in page and "| paper | 1 / 0.5 / 0.25 | 0 | 50.00 |" in page
    )
    assert (tmp_path / "docs" / "loss_scale.png").stat().st_size > 1000
    # A margin within the curves' own checkpoint-to-checkpoint jumps is called inconclusive; a larger one is not.
    assert "Not conclusive: the margin (1.00 points) is within the jumps" in page and "(up to 3.00)" in page
    assert "The margin (4.00 points) exceeds every jump between consecutive checkpoints (2.00)." in page
    assert loss_scale.choose({"official": {"best": 40.0}, "paper": {"best": 40.0}}) == "paper"  # ties: the paper's
    # The joint stages read the choice for their task.
    joint = next(s for s in reproduce.plan(config) if s.name == "joint_seg_s30")
    assert joint.config.loss_weights().scale == "official"
    report = tmp_path / "docs" / "RESULTS.md"
    reproduce.write_report(config)
    text = report.read_text()
    assert "## Loss scale" in text and "[loss_scale.md](loss_scale.md)" in text
    assert "- classification: `paper`, best validation top1 55.00% at step 2 (vs official 54.00%)" in text
    assert "head was trained on `train`, these validation images included" in text
    with pytest.raises(ValueError, match="no validated checkpoint after step 0"):
        loss_scale.read_runs([_study_run(tmp_path / "empty", "classification", "paper", [(0, 50.0)])])
    # Run folders are scratch: a run whose folder is gone is taken from the last choice's summary, the others read.
    shutil.rmtree(runs[0])
    runs[2] = _study_run(tmp_path / "seg_paper2", "segmentation", "paper", [(0, 30.0), (2, 36.0)])
    again = loss_scale.choose_loss_scale(
        loss_scale.LossScaleChoiceConfig(runs=(runs[0], *runs[1:]), out=config.docs_dir)
    )
    assert again["chosen"] == {"classification": "paper", "segmentation": "paper"}
    assert again["tasks"]["classification"]["paper"] == choice["tasks"]["classification"]["paper"]
    with pytest.raises(FileNotFoundError):  # gone and never chosen from: an error, not a silent gap
        loss_scale.read_runs([str(tmp_path / "never_ran")], choice["tasks"])


def test_the_full_scale_flagfile_fine_tunes_the_shipped_denoisers_and_reuses_the_shipped_heads():
    from absl import flags

    from keras_semdenoise.config_flags import config_from_flags, define_flags

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    values = flags.FlagValues()
    define_flags(reproduce.ReproduceConfig, values, data_root={"required": False, "help": "data"})
    values(["reproduce", f"--flagfile={os.path.join(repo, 'experiments', 'reproduce', 'full_scale.flags')}"])
    config = config_from_flags(reproduce.ReproduceConfig, values, data_root="data")
    assert (config.stem_filters, config.encoder_filters, config.decoder_filters) == (64, (128, 128), (256,))
    assert config.models_dir != reproduce.ReproduceConfig.__dataclass_fields__["models_dir"].default
    cwd = os.getcwd()
    os.chdir(repo)  # the flagfile's folders are the checkout's
    try:
        stages = {s.name: s for s in reproduce.plan(config)}
        assert stages["head_cls"].done() and stages["head_seg"].done()  # the shipped heads
        assert config.head_path("classification") == os.path.join(
            "experiments", "reproduce", "models_reduced", "head_cls.keras"
        )
        assert config.head_path("segmentation") == os.path.join(
            "experiments", "reproduce", "models_full", "head_seg.keras"
        )
        with open(config.head_clean_path("segmentation")) as handle:  # its test mIoU travels with it
            assert json.load(handle)["images"] == 233
        assert all(os.path.exists(stages[f"separate_s{s:g}"].config.init_weights) for s in config.sigmas)
    finally:
        os.chdir(cwd)
