"""The Makefile's page targets name tools and shipped models that exist (a renamed one breaks `make pages`)."""

import os
import re
import shutil
import subprocess

import pytest
from conftest import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_pages_runs_every_page_tool_on_shipped_models():
    # -n: print the commands only; -o: take the venv as made (the test runs inside it).
    result = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "pages"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout.replace("\\\n", " ")
    tools = re.findall(r"-m ((?:tools|experiments)[\w.]+)", commands)
    assert tools == [
        "tools.evaluate_denoiser",
        "tools.update_readme_results",
        "tools.plot_learning_curves",
        "tools.plot_learning_curves",
        "experiments.probes.curve_slopes",
        "tools.evaluate_denoiser",
        "tools.evaluate_sigma_auto",
        "tools.evaluate_realnoise",
        "tools.evaluate_flat_colours",
    ]
    for module in set(tools):
        assert os.path.exists(os.path.join(REPO, *module.split(".")) + ".py"), module
    models = set(re.findall(r"saved_models/[\w/{}.]+\.(?:keras|history\.json)", commands))
    assert len(models) >= 9  # 5 curves, the blind model, 2 peers' patterns, the sigma-25 model
    for path in models:  # a {sigma} pattern: the levels without a file are left empty (the peers: sigma 25 only)
        assert os.path.exists(os.path.join(REPO, path.replace("{sigma}", "25"))), path
