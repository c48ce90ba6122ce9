# Two commands for a newcomer (see README):
#   make run   - set up the core install and run the main job on registry.db.example
#   make test  - set up everything (all extras, a private PostgreSQL) and run the whole suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PIP_INSTALL := $(PY) -m pip install -q --disable-pip-version-check -c tools/constraints.txt
# CPU-only machines: TORCH_INDEX_URL=<PyTorch's CPU wheel index> installs torch and torchvision from
# there first (no CUDA libraries); the extras then find them installed (see README)
TORCH_FIRST = $(if $(TORCH_INDEX_URL),$(PIP_INSTALL) --index-url $(TORCH_INDEX_URL) torch torchvision,true)

.PHONY: run test bench example-registry clean

$(VENV)/.core: pyproject.toml tools/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.all: pyproject.toml tools/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(TORCH_FIRST)
	$(PIP_INSTALL) -e '.[all,dev]'
	touch $(VENV)/.core $@

run: $(VENV)/.core
	$(VENV)/bin/ptmhub --db registry.db.example search bert --limit 5
	$(VENV)/bin/ptmhub --db registry.db.example search --task image-classification --license permissive --max-params 30M --limit 5
	$(VENV)/bin/ptmhub --db registry.db.example show hf:bert-base-uncased

test: $(VENV)/.all
	tools/run-tests.sh $(ARGS)

bench: $(VENV)/.all
	tools/run-bench.sh $(ARGS)

example-registry: $(VENV)/.all
	$(PY) tools/build_example_registry.py registry.db.example

clean:
	rm -rf $(VENV) .venv-modelscope .pg .pytest_cache
