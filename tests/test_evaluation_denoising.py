import json

import numpy as np
import pytest

from keras_semdenoise import evaluation, metrics, noise


def _sets():
    rng = np.random.default_rng(0)
    return {"CBSD68": [(f"im{i}", rng.uniform(0.2, 0.8, (16, 12, 3)).astype(np.float32)) for i in range(3)]}


def test_evaluation_measures_every_method_on_the_same_noisy_input(tmp_path):
    seen = []

    def spy(noisy, sigma):
        seen.append(noisy.copy())
        return noisy

    methods = {
        "noisy input": lambda s: lambda n, _: n,
        "spy": lambda s: spy,
        "only25": lambda s: (lambda n, _: np.clip(n, 0, 1)) if s == 25 else None,
    }
    state = evaluation.evaluate(_sets(), [15, 25], methods, str(tmp_path / "r.json"), progress=False)
    cells = state["results"]["CBSD68"]
    name, clean = _sets()["CBSD68"][0]
    expected = metrics.psnr_uint8(clean, noise.add_seeded_gaussian_noise(clean, 25, name))
    assert cells["25"]["noisy input"]["images"][name]["psnr"] == pytest.approx(expected)
    assert cells["25"]["spy"]["mean_psnr"] == pytest.approx(cells["25"]["noisy input"]["mean_psnr"])
    assert cells["15"]["noisy input"]["mean_psnr"] > cells["25"]["noisy input"]["mean_psnr"]
    assert "only25" not in cells["15"] and cells["25"]["only25"]["count"] == 3
    assert 0 < cells["25"]["noisy input"]["mean_ssim"] < 1
    np.testing.assert_array_equal(seen[3], noise.add_seeded_gaussian_noise(clean, 25, name))
    table = evaluation.markdown_tables(state)
    assert "| noisy input |" in table and "| paper: Proposed |  | 31.32 |" in table and "Protocol" in table


def test_interrupted_evaluation_resumes_without_recomputing(tmp_path):
    path = str(tmp_path / "r.json")
    calls = []

    def flaky(noisy, sigma):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return noisy

    with pytest.raises(KeyboardInterrupt):
        evaluation.evaluate(_sets(), [25], {"m": lambda s: flaky}, path, progress=False)
    assert len(json.load(open(path))["results"]["CBSD68"]["25"]["m"]["images"]) == 1
    state = evaluation.evaluate(_sets(), [25], {"m": lambda s: flaky}, path, progress=False)
    assert len(calls) == 4  # 1 done, 1 interrupted, 2 left: the first image was not run again
    assert state["results"]["CBSD68"]["25"]["m"]["count"] == 3


def test_a_changed_model_is_measured_afresh_and_an_unchanged_one_is_not(tmp_path):
    path, calls = str(tmp_path / "r.json"), []

    def model(offset):
        def run(noisy, sigma):
            calls.append(offset)
            return np.clip(noisy + offset, 0, 1)

        return run

    weights = tmp_path / "m.keras"
    weights.write_bytes(b"version 1")
    first = evaluation.file_identity(str(weights))
    methods = {"ours": lambda s: evaluation.with_identity(model(0.0), first)}
    before = evaluation.evaluate(_sets(), [25], methods, path, progress=False)["results"]["CBSD68"]["25"]["ours"]
    evaluation.evaluate(_sets(), [25], methods, path, progress=False)
    assert len(calls) == 3  # same file: cached
    weights.write_bytes(b"version 2")
    second = evaluation.file_identity(str(weights))
    assert second != first and second.startswith("m.keras sha256:")
    methods = {"ours": lambda s: evaluation.with_identity(model(0.1), second)}
    after = evaluation.evaluate(_sets(), [25], methods, path, progress=False)["results"]["CBSD68"]["25"]["ours"]
    assert len(calls) == 6 and after["identity"] == second and after["count"] == 3
    assert after["mean_psnr"] != pytest.approx(before["mean_psnr"])


def test_time_per_megapixel_is_the_median_over_images_and_old_entries_get_their_sizes(tmp_path):
    from keras_semdenoise.evaluation import denoising

    path = str(tmp_path / "r.json")
    state = evaluation.evaluate(
        _sets(), [25], {"noisy input": lambda s: lambda n, _: n, "m": lambda s: lambda n, _: n}, path, progress=False
    )
    entries = state["results"]["CBSD68"]["25"]["m"]["images"]
    assert all(e["pixels"] == 16 * 12 for e in entries.values())
    for index, entry in enumerate(entries.values()):
        entry["seconds"] = [1.0, 2.0, 100.0][index] * 16 * 12 / 1e6  # 1, 2 and 100 s/MP: the median is 2
        del entry["pixels"]  # as measured before sizes were recorded
    json.dump(state, open(path, "w"))
    state = evaluation.evaluate(_sets(), [25], {"m": lambda s: lambda n, _: n}, path, progress=False)
    assert denoising.seconds_per_megapixel([state["results"]["CBSD68"]["25"]["m"]]) == pytest.approx(2.0)
    table = evaluation.markdown_tables(state, per_image=False)
    assert "| m | 2.00 |" in table and "| noisy input | " not in table.split("### Time")[1]
    assert denoising.seconds_per_megapixel([{"images": {"a": {"seconds": 1.0}}}]) is None


def test_named_models_from_model_flags(tmp_path):
    model = tmp_path / "a.keras"
    model.write_bytes(b"")
    assert evaluation.named_models([f"ours={model}", "peer=x_s{sigma}.keras"], sigma_template=True) == {
        "ours": str(model),
        "peer": "x_s{sigma}.keras",
    }  # in order; a template is not checked
    assert list(evaluation.named_models([f"b={model}", f"a={model}"])) == ["b", "a"]
    for entries, message in (
        ([str(model)], "NAME=PATH"),
        ([f"={model}"], "NAME=PATH"),
        (["a="], "NAME=PATH"),
        ([f"a={model}", f"a={model}"], "twice"),
        (["a=missing.keras"], "no file"),
    ):
        with pytest.raises(ValueError, match=message):
            evaluation.named_models(entries)


def test_machine_description_names_the_cpu_model_where_cpuinfo_states_it(monkeypatch):
    import os
    import platform

    from keras_semdenoise.deploy import precision

    monkeypatch.setattr(precision, "cpu_model_name", lambda: "AMD EPYC 9454")
    text = evaluation.machine_description()
    assert text.startswith(f"AMD EPYC 9454 ({platform.machine()}), {os.cpu_count()} CPU cores")
    monkeypatch.setattr(precision, "cpu_model_name", lambda: None)
    assert evaluation.machine_description().startswith(f"{platform.machine()}, {os.cpu_count()} CPU cores")
