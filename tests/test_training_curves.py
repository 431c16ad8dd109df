import json
import math

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


def test_the_gain_per_doubling_runs_from_a_window_s_first_checkpoint_to_the_last_run_s_best(tmp_path):
    cpu = _chain_file(
        tmp_path,
        "cpu",
        [{"step": 0, "eval_psnr": 31.0}, {"step": 1000, "eval_psnr": 31.2}, {"step": 3000, "eval_psnr": 31.1}],
    )
    gpu = _chain_file(
        tmp_path,
        "gpu",
        [{"step": 0, "eval_psnr": 31.2}, {"step": 500, "eval_psnr": 31.4}, {"step": 1000, "eval_psnr": 31.3}],
        batch_size=64,
        patch_size=96,
    )
    chain = plot_learning_curves.load_chain(f"{cpu}@1000+{gpu}")
    # Last run: from 2,000 step-equivalents (the CPU run's best) to its best, 500 GPU steps = 4,000 later.
    last = plot_learning_curves.gain_per_doubling(chain, 1)
    assert (last["from_x"], last["to_x"], last["runs"]) == (2000, 6000, 1)
    assert last["db_per_doubling"] == pytest.approx(0.2 / math.log2(3))
    whole = plot_learning_curves.gain_per_doubling(chain)
    assert whole["from_x"] == 1000 and whole["doublings"] == pytest.approx(math.log2(6))
    assert whole["db_per_doubling"] == pytest.approx(0.4 / math.log2(6))
    # A chain from scratch starts at its first checkpoint past zero pixels; a window starting at a run evaluated at
    # other levels starts at the next drawn one.
    scratch = plot_learning_curves.load_chain(f"{cpu}+{gpu}")
    assert plot_learning_curves.gain_per_doubling(scratch)["from_x"] == 1000
    hidden = _chain_file(
        tmp_path, "hidden", [{"step": 0, "eval_psnr": 33.0}, {"step": 100, "eval_psnr": 33.5}], eval_sigmas=[15, 25, 50]
    )
    assert (
        plot_learning_curves.gain_per_doubling(plot_learning_curves.load_chain(f"{cpu}@1000+~{hidden}+{gpu}"), 2)[
            "from_x"
        ]
        == 2100
    )
    with pytest.raises(ValueError, match="own levels"):
        plot_learning_curves.gain_per_doubling(plot_learning_curves.load_chain(f"{cpu}@1000+~{hidden}"))
    flat = _chain_file(tmp_path, "flat", [{"step": 0, "eval_psnr": 31.0}])
    with pytest.raises(ValueError, match="not past its start"):
        plot_learning_curves.gain_per_doubling(plot_learning_curves.load_chain(f"{flat}@10"))
    assert plot_learning_curves.doublings_to_gain(0.2, 0.05) == pytest.approx(4.0)
    assert plot_learning_curves.doublings_to_gain(-0.1, 0.05) == 0.0
    assert plot_learning_curves.doublings_to_gain(0.2, 0.0) == math.inf


def test_the_progress_report_prices_each_unmet_target_at_the_curve_s_slope(tmp_path):
    timed = [
        {"step": 0, "eval_psnr": 31.0},
        {"step": 1000, "train_seconds": 99.0, "eval_psnr": 31.1},
        {"step": 2000, "train_seconds": 10.0, "eval_psnr": 31.15},
        {"step": 3000, "train_seconds": 10.0, "eval_psnr": 31.2},
    ]
    run = _chain_file(tmp_path, "run", timed)
    rows = [
        {"set": "Kodak24", "sigma": 25, "target": "paper", "needed": 31.4, "measured": 31.3, "short_by": 0.1},
        {"set": "CBSD68", "sigma": 25, "target": "paper", "needed": 31.0, "measured": 31.3, "short_by": -0.3},
    ]
    report = plot_learning_curves.progress_report(
        {"sigma 25": f"{run}@1000"}, {"sigma 25": rows}, windows=(1,), decide_on=1
    )
    model = report["models"]["sigma 25"]
    # 1,000 -> 4,000 step-equivalents for +0.2 dB: 0.1 dB per doubling, over the flat line.
    assert model["slopes"]["1"]["db_per_doubling"] == pytest.approx(0.1) and not model["flat"]
    assert model["fastest_step_equivalents_per_second"] == pytest.approx(100.0)  # 2,000 steps in 20 s
    short, met = model["targets"]
    assert short["doublings"] == pytest.approx(1.0) and short["step_equivalents"] == pytest.approx(8000)
    assert short["hours_at_fastest"] == pytest.approx(4000 / 100.0 / 3600)
    assert met["doublings"] == 0.0 and met["hours_at_fastest"] == 0.0
    text = plot_learning_curves.progress_markdown(report)
    assert "| sigma 25 | 4,000 | 31.200 | 0.100 (2.00 doublings) | no | 100.0 |" in text
    assert "## Targets not met (1; 1 met)" in text and "| sigma 25 | Kodak24 | 25 | paper | 31.400 |" in text
    assert "CBSD68" not in text
