"""experiments.probes.progress: a shipped model's gain per doubling of pixels seen, and targets priced in
doublings."""

import math

import pytest
from test_training_curves import _chain_file

from experiments.probes import progress
from keras_semdenoise.training import curves as plot_learning_curves


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
    last = progress.gain_per_doubling(chain, 1)
    assert (last["from_x"], last["to_x"], last["runs"]) == (2000, 6000, 1)
    assert last["db_per_doubling"] == pytest.approx(0.2 / math.log2(3))
    whole = progress.gain_per_doubling(chain)
    assert whole["from_x"] == 1000 and whole["doublings"] == pytest.approx(math.log2(6))
    assert whole["db_per_doubling"] == pytest.approx(0.4 / math.log2(6))
    # A chain from scratch starts at its first checkpoint past zero pixels; a window starting at a run evaluated at
    # other levels starts at the next drawn one.
    scratch = plot_learning_curves.load_chain(f"{cpu}+{gpu}")
    assert progress.gain_per_doubling(scratch)["from_x"] == 1000
    hidden = _chain_file(
        tmp_path, "hidden", [{"step": 0, "eval_psnr": 33.0}, {"step": 100, "eval_psnr": 33.5}], eval_sigmas=[15, 25, 50]
    )
    assert (
        progress.gain_per_doubling(plot_learning_curves.load_chain(f"{cpu}@1000+~{hidden}+{gpu}"), 2)["from_x"] == 2100
    )
    with pytest.raises(ValueError, match="own levels"):
        progress.gain_per_doubling(plot_learning_curves.load_chain(f"{cpu}@1000+~{hidden}"))
    flat = _chain_file(tmp_path, "flat", [{"step": 0, "eval_psnr": 31.0}])
    with pytest.raises(ValueError, match="not past its start"):
        progress.gain_per_doubling(plot_learning_curves.load_chain(f"{flat}@10"))
    assert progress.doublings_to_gain(0.2, 0.05) == pytest.approx(4.0)
    assert progress.doublings_to_gain(-0.1, 0.05) == 0.0
    assert progress.doublings_to_gain(0.2, 0.0) == math.inf


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
    report = progress.progress_report({"sigma 25": f"{run}@1000"}, {"sigma 25": rows}, windows=(1,), decide_on=1)
    model = report["models"]["sigma 25"]
    # 1,000 -> 4,000 step-equivalents for +0.2 dB: 0.1 dB per doubling, over the flat line.
    assert model["slopes"]["1"]["db_per_doubling"] == pytest.approx(0.1) and not model["flat"]
    assert model["fastest_step_equivalents_per_second"] == pytest.approx(100.0)  # 2,000 steps in 20 s
    short, met = model["targets"]
    assert short["doublings"] == pytest.approx(1.0) and short["step_equivalents"] == pytest.approx(8000)
    assert short["hours_at_fastest"] == pytest.approx(4000 / 100.0 / 3600)
    assert met["doublings"] == 0.0 and met["hours_at_fastest"] == 0.0
    text = progress.progress_markdown(report)
    assert "| sigma 25 | 4,000 | 31.200 | 0.100 (2.00 doublings) | no | 100.0 |" in text
    assert "## Targets not met (1; 1 met)" in text and "| sigma 25 | Kodak24 | 25 | paper | 31.400 |" in text
    assert "CBSD68" not in text
