# Two commands on a fresh machine with Python >= 3.10:  `make run` (the app)  and  `make test` (the tests).
# Both create a local virtual environment in .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# torch and torchvision must be installed as a matching pair (a lone CPU torch wheel breaks torchvision).
TORCH_PAIR = torch==2.14.1 torchvision==0.29.1

.PHONY: run test test-all lint bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PAIR)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

run: $(VENV)/.installed      ## open the desktop app
	$(VENV)/bin/segtool

test: $(VENV)/.installed     ## fast suite (excludes slow and gpu tests), Qt offscreen
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test-all: $(VENV)/.installed ## everything, including slow tests (gpu tests skip without CUDA)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "slow or not slow"

lint: $(VENV)/.installed       ## ruff lint + ruff format (it owns layout), as CI runs them
	$(VENV)/bin/ruff check segtool models training tests benchmarks tools run_gui.py
	$(VENV)/bin/ruff format --check segtool models training tests benchmarks tools run_gui.py

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_backbones.py

clean:
	rm -rf $(VENV) .pytest_cache
