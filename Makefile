# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv demo test test-quick evaluate bench reproduce reproduce-reduced clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m tools.demo --out demo_output

test: $(STAMP)
	sh tools/ensure_chromium.sh
	$(PY) -m pytest -q -n auto --durations=15 tests

# The quick loop: everything but the tests marked slow (more than about 10 s each on a 2-core CPU).
test-quick: $(STAMP)
	$(PY) -m pytest -q -n auto -m "not slow" tests

evaluate: $(STAMP)
	$(PY) -m tools.evaluate_denoiser --sigmas 15,25,50 --out docs/evaluation

bench: $(STAMP)
	$(PY) -m bench.run_bench

# docs/RESULTS.md: the high-level findings with the shipped full-size denoiser (resumable; hours on a CPU).
reproduce: $(STAMP)
	$(PY) -m tools.reproduce --flagfile=tools/reproduce/full_scale.flags

# docs/RESULTS_reduced.md: the first, reduced-width run (RESULTS.md's appendix).
reproduce-reduced: $(STAMP)
	$(PY) -m tools.reproduce

clean:
	rm -rf $(VENV) demo_output
