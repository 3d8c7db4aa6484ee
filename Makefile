# Two commands do everything on a fresh machine:
#   make demo   - set up .venv and run the main job (search + retrain + evaluate, cpu preset)
#   make test   - set up .venv with the dev extras, lint, and run the whole test suite
# While developing: make test-fast (unit tests only, about 2 minutes on 2 cores), make lint.
# The site: make docs (notebooks executed at their defaults + docs/ -> docs/_build/html/index.html),
#   make docs-test (opens it in headless Chromium, network off).
# TORCH selects the torch requirement installed first.  torch==2.13.0 is the CPU build where
# pip's index serves it (CI, Binder); PyPI's Linux wheel is the CUDA build, so a Linux laptop asks
# PyTorch's CPU index by name:
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make demo TORCH='torch==2.13.0+cpu'
# On a GPU machine: make demo TORCH='torch>=2.3'.

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
PRESET ?= cpu
OUT ?= runs/demo
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test test-fast lint setup setup-dev setup-docs docs docs-html docs-test notebooks clean

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

$(VENV)/.setup-docs: pyproject.toml $(VENV)/.setup-dev
	$(PIP) install --quiet -e ".[dev,notebooks,docs]"
	touch $@

setup: $(VENV)/.setup
setup-dev: $(VENV)/.setup-dev
setup-docs: $(VENV)/.setup-docs

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

# --- the site -------------------------------------------------------------------------------
# Each notebook runs at its default parameters (it reads the committed reference run
# results/reference-cpu: seconds to ~2 minutes each) into docs/_build/notebooks/, and is re-run
# only when it, the reference run or the library changes.  docs-html builds the site from
# DOCS_NB without executing anything, e.g. from the smoke copies that make test leaves:
#   make docs-html DOCS_NB=notebooks/_executed
# The staged sources (docs/_build/src) mirror the repository (index.md, docs/*.md,
# notebooks/*.ipynb), so a notebook's link to ../docs/method.md works on the site too.
DOCS_BUILD := docs/_build
DOCS_NB ?= $(DOCS_BUILD)/notebooks
NOTEBOOK_NAMES := $(basename $(notdir $(wildcard notebooks/[0-9][0-9]_*.ipynb)))
REFERENCE_RUN_FILES := $(shell find results/reference-cpu -type f 2>/dev/null)
LIBRARY_FILES := $(shell find partnas_lib -name '*.py' 2>/dev/null)

$(DOCS_BUILD)/notebooks/%.ipynb: notebooks/%.ipynb $(REFERENCE_RUN_FILES) $(LIBRARY_FILES) | $(VENV)/.setup-docs
	@mkdir -p $(DOCS_BUILD)/notebooks/.partial
	@start=$$(date +%s); \
	cd notebooks && $(abspath $(VENV))/bin/papermill --no-progress-bar --log-level WARNING -k python3 \
		--execution-timeout 1800 $*.ipynb ../$(DOCS_BUILD)/notebooks/.partial/$*.ipynb \
		-p METRICS_OUT ../$(DOCS_BUILD)/notebooks/$*.metrics.json \
	&& echo "executed $* at its defaults in $$(( $$(date +%s) - start )) s"
	mv $(DOCS_BUILD)/notebooks/.partial/$*.ipynb $@

docs: $(addprefix $(DOCS_BUILD)/notebooks/,$(addsuffix .ipynb,$(NOTEBOOK_NAMES))) | $(VENV)/.setup-docs
	$(MAKE) --no-print-directory docs-html DOCS_NB=$(DOCS_BUILD)/notebooks

docs-html: $(VENV)/.setup-docs
	rm -rf $(DOCS_BUILD)/src && mkdir -p $(DOCS_BUILD)/src/docs $(DOCS_BUILD)/src/notebooks
	cp -p docs/index.md $(DOCS_BUILD)/src/
	cp -p $(filter-out docs/index.md,$(wildcard docs/*.md)) $(DOCS_BUILD)/src/docs/
	for name in $(NOTEBOOK_NAMES); do cp -p $(DOCS_NB)/$$name.ipynb $(DOCS_BUILD)/src/notebooks/ || exit 1; done
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html -c docs -d $(DOCS_BUILD)/doctrees $(DOCS_BUILD)/src $(DOCS_BUILD)/html
	@echo "site: $(DOCS_BUILD)/html/index.html"

# DOCS_REQUIRED=1: a missing site or Chromium fails the test instead of skipping it
DOCS_REQUIRED ?= 1
docs-test: $(VENV)/.setup-docs
	PARTNAS_DOCS_REQUIRED=$(DOCS_REQUIRED) $(PY) -m pytest -q -p no:cacheprovider -m docs tests/docs

clean:
	rm -rf $(VENV) runs .pytest_cache $(DOCS_BUILD)
