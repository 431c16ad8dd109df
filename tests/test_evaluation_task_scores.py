import dataclasses
import json
import os

import keras
import numpy as np
import pytest
from conftest import classification_folder, segmentation_folder

from keras_semdenoise import metrics, noise
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import cbm3d, head_scores, intervals, store, task_scores
from keras_semdenoise.evaluation.cbm3d_cache import Cbm3dCache
from keras_semdenoise.models.heads import VGG16Trunk, build_deeplab_largefov, build_vgg16_classifier


def test_evaluate_task_table_with_only_the_clean_cell():
    state = {
        "head": "h.keras",
        "data": "d",
        "split": "test",
        "cells": {"clean": {"clean": {"images": 7, "top1": 87.4, "top5": 99.5}}},
    }
    table = task_scores.markdown_table(state, "classification")
    assert "| setting | no noise |" in table and "| clean input (no noise) | 87.4 / 99.5 |" in table
    assert "7 images per cell" in table


@pytest.fixture(scope="module")
def classification_setup(tmp_path_factory):
    """Six 16x16 test images of three classes and an untrained tiny VGG head: (split, head)."""
    data = classification_folder(str(tmp_path_factory.mktemp("cls") / "data"), classes=3, per_class=2, size=16)
    keras.utils.set_random_seed(0)
    head = build_vgg16_classifier(
        3, trunk=VGG16Trunk(input_shape=(16, 16, 3), width_divisor=16), top="gap", hidden_units=8
    )
    return sources.load_split("classification", data, "test"), head


def _config(split, out, **overrides):
    values = dict(
        task="classification",
        data="tiny",
        head="tiny.keras",
        sigmas=(15.0,),
        settings=("noisy", "cbm3d"),
        crop_size=16,
        batch_size=4,
        out=str(out),
    )
    return task_scores.TaskEvaluationConfig(**{**values, **overrides})


@pytest.fixture
def counted_cbm3d(monkeypatch):
    """CBM3D replaced by a cheap smoothing that counts its calls."""
    calls = []

    def fake(noisy, sigma_255):
        calls.append(sigma_255)
        return 0.5 * np.clip(noisy, 0, 1) + 0.25

    monkeypatch.setattr(cbm3d, "cbm3d_denoise", fake)
    return calls


def test_records_are_kept_per_cell_and_read_back_on_resume(classification_setup, counted_cbm3d, tmp_path, monkeypatch):
    split, head = classification_setup
    config = _config(split, tmp_path / "eval", cbm3d_cache=str(tmp_path / "cache"))
    state = task_scores.evaluate_cells(config, split, head, progress=False)
    assert set(state["cells"]) == {"clean", "noisy", "cbm3d"}
    for setting, key in (("clean", "clean"), ("noisy", "15"), ("cbm3d", "15")):
        records = store.load_records(store.records_path(config.out, setting, key))
        cell = state["cells"][setting][key]
        assert records["top1"].shape == records["top5"].shape == (6,) and records["top1"].dtype == bool
        assert cell["top1"] == pytest.approx(100.0 * records["top1"].mean())
        assert cell["top5"] == pytest.approx(100.0 * records["top5"].mean())
        assert ("psnr" in records) == (key != "clean")
    noisy_psnr = store.load_records(store.records_path(config.out, "noisy", "15"))["psnr"]
    assert state["cells"]["noisy"]["15"]["psnr"] == pytest.approx(noisy_psnr.mean()) and noisy_psnr.shape == (6,)
    markdown = (tmp_path / "eval" / "results.md").read_text()
    difference = intervals.paired_bootstrap(
        *(store.load_records(store.records_path(config.out, s, "15")) for s in ("cbm3d", "noisy")), "top1"
    )
    assert "#### Differences (95% bootstrap intervals over images)" in markdown
    assert f"| cbm3d - noisy | {difference.text()} |" in markdown
    # Resuming measures nothing again and reads the records back for the same section.
    monkeypatch.setattr(head_scores, "measure_head", lambda *args: pytest.fail("measured again"))
    assert task_scores.evaluate_cells(config, split, head, progress=False) == state
    assert (tmp_path / "eval" / "results.md").read_text() == markdown
    # A cell measured before records were kept is still shown; its differences say n/a.
    os.remove(store.records_path(config.out, "cbm3d", "15"))
    task_scores.evaluate_cells(config, split, head, progress=False)
    markdown = (tmp_path / "eval" / "results.md").read_text()
    assert "| cbm3d - noisy | n/a |" in markdown and "| CBM3D + head |" in markdown
    assert json.load(open(config.results_path()))["cells"] == state["cells"]


def test_cbm3d_estimates_are_computed_once_and_shared(classification_setup, counted_cbm3d, tmp_path):
    split, head = classification_setup
    cache = str(tmp_path / "cache")
    first = task_scores.evaluate_cells(
        _config(split, tmp_path / "a", cbm3d_cache=cache, settings=("cbm3d",)), split, head, progress=False
    )
    assert len(counted_cbm3d) == 6
    # Another table (another output folder) over the same images reads them back.
    second = task_scores.evaluate_cells(
        _config(split, tmp_path / "b", cbm3d_cache=cache, settings=("cbm3d",)), split, head, progress=False
    )
    assert len(counted_cbm3d) == 6 and second["cells"] == first["cells"]
    assert open(os.path.join(cache, ".gitignore")).read() == "*\n"
    # The default cache lives in the output folder; another sigma or crop is another key.
    task_scores.evaluate_cells(
        _config(split, tmp_path / "c", settings=("cbm3d",), sigmas=(15.0, 30.0)), split, head, progress=False
    )
    assert len(counted_cbm3d) == 18 and os.path.isdir(tmp_path / "c" / "cbm3d_cache" / "classification")


def test_the_cached_estimate_is_a_fresh_cbm3d_estimate(tmp_path, monkeypatch):
    clean = np.tile(np.linspace(0.2, 0.8, 16, dtype=np.float32)[None, :, None], (16, 1, 3))
    noisy = noise.add_seeded_gaussian_noise(clean, 25, "classification:3")
    cache = Cbm3dCache(str(tmp_path), "classification", "test", 16)
    estimate = cache.denoise(noisy[None], [3], 25)[0]
    fresh = metrics.to_uint8(cbm3d.cbm3d_denoise(noisy, 25))
    np.testing.assert_array_equal(metrics.to_uint8(estimate), fresh)
    path = cache.path(3, 25, noisy)
    assert path.startswith(os.path.join(str(tmp_path), "classification", "test", "crop16", "sigma25", "000003-"))
    monkeypatch.setattr(cbm3d, "cbm3d_denoise", lambda *args: pytest.fail("computed again"))
    np.testing.assert_array_equal(cache.denoise(noisy[None], [3], 25)[0], estimate)
    assert cache.path(3, 25, noisy + 0.01) != path  # another noisy input (data, crop, noise) is another key


@pytest.mark.slow
def test_parallel_workers_give_the_same_cells(classification_setup, tmp_path):
    split, head = classification_setup
    states = [
        task_scores.evaluate_cells(
            _config(split, tmp_path / str(workers), settings=("cbm3d",), batch_size=1, max_batches=2, workers=workers),
            split,
            head,
            progress=False,
        )
        for workers in (1, 2)
    ]
    assert states[0]["cells"] == states[1]["cells"] and states[0]["cells"]["cbm3d"]["15"]["images"] == 2
    folders = [
        tmp_path / str(workers) / "cbm3d_cache" / "classification" / "test" / "crop16" / "sigma15" for workers in (1, 2)
    ]
    assert sorted(os.listdir(folders[0])) == sorted(os.listdir(folders[1])) and len(os.listdir(folders[0])) == 2


def test_segmentation_records_are_per_image_confusion_matrices(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"), count=3)
    split = sources.load_split("segmentation", data, "test", ignore_index=3, num_classes=3)
    keras.utils.set_random_seed(0)
    head = build_deeplab_largefov(3, trunk=VGG16Trunk(width_divisor=16), fc_units=8)
    result, records = head_scores.measure_head(head, split, 1, None, sigma_255=15.0)
    assert records["confusion"].shape == (3, 3, 3) and records["psnr"].shape == (3,)
    assert records["confusion"].sum() == 3 * (20 - 2) * 24  # every pixel but the two void rows
    assert result["miou"] == pytest.approx(100.0 * metrics.mean_iou(records["confusion"].sum(0)))
    assert result["images"] == 3


def test_kept_cells_are_measured_again_when_their_head_or_denoiser_file_changes(
    classification_setup, counted_cbm3d, tmp_path, monkeypatch
):
    from conftest import TINY

    from keras_semdenoise.models.denoiser import build_denoiser

    split, head = classification_setup
    head_path = str(tmp_path / "head.keras")
    head.save(head_path)
    separate = str(tmp_path / "separate_s{sigma}.keras")
    keras.utils.set_random_seed(1)
    build_denoiser(zero_init_output=False, **TINY).save(separate.format(sigma=15))
    config = _config(
        split, tmp_path / "eval", head=head_path, settings=("noisy", "separate"), separate=separate, part_images=0
    )
    measured = []
    measure = head_scores.measure_head

    def counted(head, split, batch_size, crop, batches, sigma, denoise, start_batch=0):
        measured.append(sigma)
        return measure(head, split, batch_size, crop, batches, sigma, denoise, start_batch=start_batch)

    monkeypatch.setattr(head_scores, "measure_head", counted)
    state = task_scores.evaluate_cells(config, split, head, progress=False)
    assert measured == [None, 15.0, 15.0]
    assert state["cells"]["separate"]["15"]["inputs"]["denoiser"].startswith("separate_s15.keras weights-sha256:")
    head_identity = state["cells"]["clean"]["clean"]["inputs"]["head"]
    assert head_identity.startswith("head.keras weights-sha256:")
    assert state["cells"]["noisy"]["15"]["inputs"] == {"head": head_identity, "denoiser": None}
    task_scores.evaluate_cells(config, split, head, progress=False)
    assert len(measured) == 3  # the same files: every cell kept
    keras.saving.load_model(separate.format(sigma=15)).save(separate.format(sigma=15))
    task_scores.evaluate_cells(config, split, head, progress=False)
    assert len(measured) == 3  # the same model saved again (other bytes: a new save date inside) is the same
    # A re-shipped denoiser: its cell alone is measured again, and its figures are the new model's.
    keras.utils.set_random_seed(2)
    build_denoiser(zero_init_output=False, **TINY).save(separate.format(sigma=15))
    again = task_scores.evaluate_cells(config, split, head, progress=False)
    assert measured[3:] == [15.0]
    assert again["cells"]["separate"]["15"]["inputs"] != state["cells"]["separate"]["15"]["inputs"]
    assert again["cells"]["noisy"] == state["cells"]["noisy"]
    # A replaced head: every cell is measured again.
    keras.utils.set_random_seed(3)
    build_vgg16_classifier(
        3, trunk=VGG16Trunk(input_shape=(16, 16, 3), width_divisor=16), top="gap", hidden_units=8
    ).save(head_path)
    task_scores.evaluate_cells(config, split, head, progress=False)
    assert measured[4:] == [None, 15.0, 15.0]
    # A cell whose denoiser file is gone is dropped, not shown as if it were measured from it.
    os.remove(separate.format(sigma=15))
    final = task_scores.evaluate_cells(config, split, head, progress=False)
    assert "15" not in final["cells"].get("separate", {}) and len(measured) == 7


def test_the_table_is_written_after_each_cell_so_an_unfinished_evaluation_can_be_read(
    classification_setup, counted_cbm3d, tmp_path, monkeypatch
):
    split, head = classification_setup
    config = _config(split, tmp_path / "eval", settings=("noisy", "cbm3d"), batch_size=2, part_images=0)

    def stopped(*args, **kwargs):  # interrupted as the third cell (CBM3D) begins
        raise KeyboardInterrupt

    monkeypatch.setattr(task_scores, "_fill_cbm3d", stopped)
    with pytest.raises(KeyboardInterrupt):
        task_scores.evaluate_cells(config, split, head, progress=False)
    table = open(os.path.join(config.out, "results.md")).read()
    assert "| clean input (no noise) |" in table and "| noisy input |" in table and "CBM3D + head" not in table


def test_a_cell_interrupted_between_parts_resumes_from_its_last_part(
    classification_setup, counted_cbm3d, tmp_path, monkeypatch
):
    split, head = classification_setup
    whole = task_scores.evaluate_cells(
        _config(split, tmp_path / "whole", settings=("cbm3d",), batch_size=2, part_images=0),
        split,
        head,
        progress=False,
    )
    assert len(counted_cbm3d) == 6
    config = _config(
        split,
        tmp_path / "parts",
        settings=("cbm3d",),
        batch_size=2,
        part_images=2,
        cbm3d_cache=str(tmp_path / "first_cache"),
    )
    measure, parts = head_scores.measure_head, []

    def interrupted(*args, start_batch=0):
        if len(parts) == 2:  # 6 images in 3 batches of 2, one batch a part: stopped in the clean cell's third part
            raise KeyboardInterrupt
        parts.append((args[5], start_batch))
        return measure(*args, start_batch=start_batch)

    monkeypatch.setattr(head_scores, "measure_head", interrupted)
    with pytest.raises(KeyboardInterrupt):
        task_scores.evaluate_cells(config, split, head, progress=False)
    state = json.load(open(config.results_path()))
    assert parts == [(None, 0), (None, 1)]
    assert state["parts"]["clean"]["clean"]["batches"] == 2 and "clean" not in state["cells"]
    part = store.load_records(os.path.join(config.out, "records", "clean_clean.part.npz"))
    assert part["top1"].shape == (4,)
    # Resumed in another checkout that kept results.json and records/ but not the CBM3D estimate cache.
    monkeypatch.setattr(
        head_scores,
        "measure_head",
        lambda *args, start_batch=0: (parts.append((args[5], start_batch)), measure(*args, start_batch=start_batch))[1],
    )
    calls = len(counted_cbm3d)
    resumed = task_scores.evaluate_cells(
        dataclasses.replace(config, cbm3d_cache=str(tmp_path / "other_cache")), split, head, progress=False
    )
    assert parts[2:] == [(None, 2), (None, 3), (15.0, 0), (15.0, 1), (15.0, 2), (15.0, 3)]
    assert len(counted_cbm3d) - calls == 6
    for setting, key in (("clean", "clean"), ("cbm3d", "15")):
        assert {k: v for k, v in resumed["cells"][setting][key].items() if k != "inputs"} == {
            k: v for k, v in whole["cells"][setting][key].items() if k != "inputs"
        }
        for name, values in store.load_records(store.records_path(config.out, setting, key)).items():
            np.testing.assert_array_equal(
                values, store.load_records(store.records_path(str(tmp_path / "whole"), setting, key))[name]
            )
    assert not os.path.exists(os.path.join(config.out, "records", "clean_clean.part.npz"))
    assert resumed["parts"] == {"clean": {}, "cbm3d": {}}
