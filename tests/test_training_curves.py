import json

import pytest

from keras_semdenoise.training import curves as plot_learning_curves


def test_learning_curve_of_a_shipped_model_is_drawn_at_total_steps(tmp_path):
    history = [{"step": 250, "eval_psnr": 33.3}, {"step": 500, "loss": 0.1}, {"step": 750, "eval_psnr": 33.9}]
    (tmp_path / "denoiser_sigma15.history.json").write_text(json.dumps({"config": {"sigma": 15.0}, "history": history}))
    (tmp_path / "MODELS.json").write_text(
        json.dumps({"denoiser_sigma15": {"steps_trained": 10750, "steps_this_run": 750}})
    )
    steps, values, _, label = plot_learning_curves.load_curve(str(tmp_path / "denoiser_sigma15.history.json"))
    assert (
        steps == [10250, 10750]
        and values == [33.3, 33.9]
        and label == "denoiser_sigma15 (fp32, validation at sigma 15)"
    )
    out = tmp_path / "curve.png"
    plot_learning_curves.plot([str(tmp_path / "denoiser_sigma15.history.json")], str(out), {"CBM3D": 33.5})
    assert out.stat().st_size > 1000


def test_a_chain_of_runs_is_drawn_at_the_pixels_seen_each_from_the_one_before_s_best(tmp_path):
    def run(name, config, history):
        path = tmp_path / f"{name}.history.json"
        path.write_text(json.dumps({"config": {"sigma": 25.0, **config}, "history": history}))
        return str(path)

    cpu = run(
        "cpu",
        {"batch_size": 32, "patch_size": 48},
        [{"step": 0, "eval_psnr": 31.0}, {"step": 1000, "eval_psnr": 31.2}, {"step": 2000, "eval_psnr": 31.1}],
    )
    hidden = run(
        "hidden",
        {"batch_size": 64, "patch_size": 96, "eval_sigmas": [15, 25, 50]},
        [{"step": 0, "eval_psnr": 33.0}, {"step": 500, "eval_psnr": 33.5}],
    )
    gpu = run(
        "gpu",
        {"batch_size": 64, "patch_size": 96},
        [{"step": 0, "eval_psnr": 31.3}, {"step": 100, "loss": 0.1}, {"step": 250, "eval_psnr": 31.4}],
    )
    chain = plot_learning_curves.load_chain(f"{cpu}@5000+~{hidden}+{gpu}")
    # The CPU run from step 5,000; the hidden run from its best (step 1,000, not the last); a GPU step is 8 CPU steps.
    assert chain[0][0] == [5000, 6000, 7000] and chain[0][3]
    assert chain[1][0] == [6000, 10000] and not chain[1][3]
    assert chain[2][0] == [10000, 12000] and chain[2][1] == [31.3, 31.4] and chain[2][3]
    out = tmp_path / "chained.png"
    plot_learning_curves.plot_chains({"sigma 25": f"{cpu}@5000+~{hidden}+{gpu}"}, str(out))
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="no evaluated checkpoint"):
        plot_learning_curves.load_chain(run("empty", {}, [{"step": 10, "loss": 0.1}]))


def test_a_shipped_model_s_lineage_is_read_back_through_its_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # links are relative to the repository root, where the tools run

    def record(name, previous=None, **config):
        body = {
            "config": {"sigma": 25.0, "model_dir": f"runs/{name}", **config},
            "history": [{"step": 0, "eval_psnr": 31.0}, {"step": 10, "eval_psnr": 31.1}],
        }
        if previous:
            body["previous"] = previous
        path = f"{name}.history.json"
        (tmp_path / path).write_text(json.dumps(body))
        return path

    first = record("first")
    other_levels = record("middle", previous=first, eval_sigmas=[15, 25, 50])
    last = record("last", previous=other_levels)
    assert plot_learning_curves.lineage(last) == f"{first}+~{other_levels}+{last}"
    # Where the oldest record knows the steps before it, the chain starts there.
    body = json.loads((tmp_path / first).read_text())
    (tmp_path / first).write_text(json.dumps({**body, "start_steps": 24000}))
    assert plot_learning_curves.lineage(last) == f"{first}@24000+~{other_levels}+{last}"
    assert [run[3] for run in plot_learning_curves.load_chain(plot_learning_curves.lineage(last))] == [
        True,
        False,
        True,
    ]
    # A loop of links, or a bare list of records, is refused rather than followed.
    looped = record("looped", previous="looped.history.json")
    with pytest.raises(ValueError, match="loop"):
        plot_learning_curves.lineage(looped)
    (tmp_path / "bare.history.json").write_text(json.dumps([{"step": 1, "eval_psnr": 30.0}]))
    with pytest.raises(ValueError, match="bare list"):
        plot_learning_curves.lineage(record("after_bare", previous="bare.history.json"))


def _chain_file(tmp_path, name, history, **config):
    path = tmp_path / f"{name}.history.json"
    path.write_text(
        json.dumps({"config": {"sigma": 25.0, "batch_size": 32, "patch_size": 48, **config}, "history": history})
    )
    return str(path)
