# Two commands do everything on a fresh machine:
#   make demo   - set up .venv and run the main job (search + retrain + evaluate, cpu preset)
#   make test   - set up .venv with the dev extras, lint, and run the whole test suite
# While developing: make test-fast (unit tests only, about 2 minutes on 2 cores), make lint.
# TORCH selects the torch requirement installed first; the default is the CPU build that CPU
# machines (CI, Binder, laptops) want.  On a GPU machine: make demo TORCH='torch>=2.3'.

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
PRESET ?= cpu
OUT ?= runs/demo
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test test-fast lint setup setup-dev notebooks clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.setup: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[notebooks]"
	touch $@

$(VENV)/.setup-dev: pyproject.toml $(VENV)/.setup
	$(PIP) install --quiet -e ".[dev,notebooks]"
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

setup: $(VENV)/.setup
setup-dev: $(VENV)/.setup-dev

demo: $(VENV)/.setup
	$(VENV)/bin/partnas reproduce --preset $(PRESET) --out $(OUT)

lint: $(VENV)/.setup-dev
	$(VENV)/bin/ruff check partnas_lib tests benchmarks data_scripts
	$(VENV)/bin/lint-imports

test-fast: $(VENV)/.setup-dev
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) -m pytest -q -p no:cacheprovider -m "not slow and not notebooks" tests

test: lint
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax notebooks/_executed/*.ipynb

clean:
	rm -rf $(VENV) runs .pytest_cache
