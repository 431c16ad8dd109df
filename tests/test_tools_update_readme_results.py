import pytest

from tools import update_readme_results as tool


def _state():
    cell = lambda psnr: {"images": {"a": {"psnr": psnr, "seconds": 1.0}}, "count": 1, "mean_psnr": psnr}
    return {
        "protocol": "P",
        "machine": "M",
        "results": {"CBSD68": {"25": {"CBM3D": cell(30.8), "Proposed (ours)": cell(30.9)}}},
    }


def test_results_block_replaces_only_the_marked_part_and_shows_models_and_tables():
    index = {
        "denoiser_sigma15": {
            "file": "denoiser_sigma15.keras",
            "sigma": 15.0,
            "sigma_range": None,
            "steps_trained": 11000,
            "steps_this_run": 1000,
            "init_from": "denoiser_sigma25",
            "eval_psnr_db": 33.9,
            "eval": "first 6 images of CBSD68, sigma 15",
            "hardware": "2-core x86_64 CPU",
            "precision": "mixed_bfloat16",
            "data": "CBSD432:0.71,T91:0.15",
            "train_seconds": 5400.0,
        },
        "denoiser_blind": {
            "file": "denoiser_blind.keras",
            "sigma": None,
            "sigma_range": [0.0, 55.0],
            "steps_trained": 500,
            "eval_psnr_db": None,
            "eval": "",
        },
    }
    readme = f"# T\n\nbefore\n{tool.BEGIN}\nold stuff\n{tool.END}\nafter\n"
    updated = tool.replace_block(readme, tool.results_block(_state()))
    assert updated.startswith("# T\n\nbefore\n") and updated.endswith("after\n") and "old stuff" not in updated
    page = tool.models_page(index)
    assert (
        "| `denoiser_sigma15.keras` | ours (multi-scale) | sigma 15 | 11,000 (1,000 in its last run) | denoiser_sigma25 | "
        "CBSD432:0.71,T91:0.15 | bf16 (mixed) | 1.5 h |"
    ) in page
    assert "blind, sigma in [0, 55] | 500 | scratch | CBSD432 | fp32 | not logged |" in page
    assert (
        "| CBM3D |  | 30.80 |  |" in updated and "| paper: Proposed |  | 31.32 | 28.09 |  | 32.39 | 29.27 |" in updated
    )
    assert "| CDnCNN-B (published figures) | 33.90 | 31.24 | 27.95 | 34.60 | 32.14 | 28.95 |" in updated
    assert "| CBM3D (measured here) |  | +0.10 |  |  |  |  |" in updated
    assert "| CDnCNN-B (published figures) |  | -0.34 |  |  |  |  |" in updated
    # Idempotent: running it again gives the same README.
    block = tool.replace_block(updated, tool.results_block(_state()))
    assert tool.replace_block(block, tool.results_block(_state())) == block


def test_peers_trained_here_are_listed_with_their_network_and_budget():
    peers = {
        "dncnn_sigma25": {
            "file": "dncnn_sigma25.keras",
            "architecture": "dncnn",
            "sigma": 25.0,
            "sigma_range": None,
            "steps_trained": 13000,
            "steps_this_run": 13000,
            "eval_psnr_db": 31.0,
            "eval": "16 held-out CBSD432 validation images, sigma 25",
            "hardware": "2-core CPU",
            "precision": "mixed_bfloat16",
            "data": "CBSD432",
            "train_seconds": 7200.0,
        }
    }
    table = tool.models_table({}, peers)
    assert (
        "| `peers/dncnn_sigma25.keras` | DnCNN | sigma 25 | 13,000 | scratch | CBSD432 | bf16 (mixed) | 2.0 h | 31.00"
    ) in table


def test_a_model_says_its_last_run_batch_and_a_short_run_its_minutes():
    index = {
        "denoiser_sigma25": {
            "file": "denoiser_sigma25.keras",
            "sigma": 25.0,
            "sigma_range": None,
            "steps_trained": 30160,
            "steps_this_run": 1800,
            "init_from": "denoiser_sigma25",
            "batch_size": 64,
            "patch_size": 96,
            "eval_psnr_db": 31.73,
            "eval": "v",
            "hardware": "1 NVIDIA H200 GPU",
            "precision": "mixed_bfloat16",
            "data": "CBSD432",
            "train_seconds": 100.0,
        }
    }
    assert (
        "| 30,160 (1,800 in its last run, batch 64 of 96x96) | denoiser_sigma25 | CBSD432 | bf16 (mixed) | "
        "2 min | 31.73 (v) | 1 NVIDIA H200 GPU |"
    ) in tool.models_table(index)


def test_missing_markers_are_an_error():
    with pytest.raises(ValueError, match="results:begin"):
        tool.replace_block("# no markers\n", "x")
