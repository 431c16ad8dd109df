# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv lint demo test test-quick evaluate pages bench reproduce reproduce-reduced clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m tools.demo --out demo_output

# Lint, format and the package's import floors (.importlinter), then every test.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: lint
	sh tools/ensure_chromium.sh
	$(PY) -m pytest -q -n auto --durations=15 tests

# The quick loop: everything but the tests marked slow (more than about 10 s each on a 2-core CPU).
test-quick: lint
	$(PY) -m pytest -q -n auto -m "not slow" tests

# The results tables (README and docs/evaluation): every shipped model and the peers trained here at the paper's
# levels, CBM3D and the noisy input (cells are cached per model file: a new model re-measures its own cells only).
evaluate: $(STAMP)
	$(PY) -m tools.evaluate_denoiser --sets CBSD68,Kodak24 --sigmas 15,25,35,50 \
	    --methods noisy,cbm3d,proposed --model 'Proposed, blind (ours)=saved_models/denoiser_blind.keras' \
	    --model 'FFDNet-style (trained here)=saved_models/peers/ffdnet_style_sigma{sigma}.keras' \
	    --model 'DnCNN (trained here)=saved_models/peers/dncnn_sigma{sigma}.keras' --out docs/evaluation
	$(PY) -m tools.update_readme_results

# Every page that shows the shipped models, re-measured after shipping one (about an hour on 2 busy cores; each
# step resumable): the results tables, learning curves and their slopes against the targets, self-ensemble,
# --sigma auto, real photos, flat colours.
# The README's prose around them is updated by hand.
pages: evaluate
	$(PY) -m tools.plot_learning_curves --runs saved_models/denoiser_sigma15.history.json,saved_models/denoiser_sigma25.history.json,saved_models/denoiser_sigma35.history.json,saved_models/denoiser_sigma50.history.json,saved_models/denoiser_blind.history.json
	$(PY) -m tools.plot_learning_curves --out docs/learning_curves_chained.png \
	    $(foreach s,15 25 35 50,--lineage 'sigma $(s)=saved_models/denoiser_sigma$(s).history.json') \
	    --lineage 'blind, mean of 15/25/50=saved_models/denoiser_blind.history.json'
	$(PY) -m experiments.probes.curve_slopes --out experiments/probes/curve_slopes_results
	$(PY) -m tools.evaluate_denoiser --sets Kodak24 --sigmas 15,25,35,50 --methods proposed,proposed_x8 \
	    --out docs/self_ensemble
	$(PY) -m tools.evaluate_sigma_auto --out docs/sigma_auto
	$(PY) -m tools.evaluate_realnoise --out docs/realnoise --cbm3d_limit 12
	$(PY) -m tools.evaluate_flat_colours --sigma 25 --out docs/flat_colours \
	    --model 'Proposed (ours)=saved_models/denoiser_sigma25.keras' \
	    --model 'Proposed, blind (ours)=saved_models/denoiser_blind.keras' \
	    --model 'FFDNet-style (trained here)=saved_models/peers/ffdnet_style_sigma25.keras' \
	    --model 'DnCNN (trained here)=saved_models/peers/dncnn_sigma25.keras'

bench: $(STAMP)
	$(PY) -m bench.run_bench

# docs/RESULTS.md: the high-level findings with the shipped full-size denoiser (resumable; hours on a CPU).
reproduce: $(STAMP)
	$(PY) -m experiments.reproduce --flagfile=experiments/reproduce/full_scale.flags

# docs/RESULTS_reduced.md: the first, reduced-width run (RESULTS.md's appendix).
reproduce-reduced: $(STAMP)
	$(PY) -m experiments.reproduce

clean:
	rm -rf $(VENV) demo_output
