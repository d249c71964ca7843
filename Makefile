# Two commands a newcomer needs:  `make demo` (set up + run the offline default)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dualalign-installed
PLUGINS := $(sort $(wildcard plugins/*))
# plugins whose dependencies include torch get the CPU build pinned first (a bare `torch` pulls CUDA wheels)
TORCH_PIN ?= torch==2.13.0
NEEDS_TORCH := $(shell grep -l '"torch' plugins/*/pyproject.toml 2>/dev/null)
DEMO_OUT ?= runs/demo

.PHONY: setup demo test test-slow lint bench docs clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(if $(NEEDS_TORCH),$(BIN)/python -m pip install -q "$(TORCH_PIN)")
	$(BIN)/python -m pip install -q -e ".[parquet,report,hf,fhir,ray,docs,dev]" $(foreach p,$(PLUGINS),-e "$(p)")
	$(if $(wildcard scripts/post-install.sh),bash scripts/post-install.sh $(BIN)/python)
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/dualalign run examples/alzheimers-demo.toml --out $(DEMO_OUT) --resume

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/runner_overhead.py
	$(BIN)/python benchmarks/sampler_throughput.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/local_generation.py

# the docs site: its tools are an extra (make setup stays lean); built with --strict into site/
DOCS_STAMP := $(VENV)/.dualalign-docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs site
