# The two commands an operator needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit bench bench-smoke image-test deploy-tools helm-readme clean

# A stamp per kind of install: the demo needs only the package and its runtime dependencies;
# the test extras (pytest, ruff, mypy, Huawei's SDKs) come with the first command that needs
# them. They include the runtime, so that install stamps both.
$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(BIN)/.installed-runtime: pyproject.toml | $(VENV)/pyvenv.cfg
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed-test: pyproject.toml | $(VENV)/pyvenv.cfg
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(BIN)/.installed-runtime

demo: $(BIN)/.installed-runtime  ## simulator + exporter, no config: http://127.0.0.1:9877/metrics
	$(BIN)/drs-exporter demo

test: lint unit  ## everything CI runs

lint: $(BIN)/.installed-test
	$(BIN)/ruff check drs_exporter tests benchmarks
	$(BIN)/ruff format --check drs_exporter tests benchmarks
	$(BIN)/mypy

unit: $(BIN)/.installed-test
	$(BIN)/pytest

bench: $(BIN)/.installed-test  ## the performance figures of the README
	$(BIN)/python benchmarks/bench.py

bench-smoke: $(BIN)/.installed-test
	$(BIN)/python benchmarks/bench.py --tiny

deploy-tools: $(BIN)/.installed-test  ## the pinned helm and kubectl, into .venv/bin, for the deploy tests
	bash deploy/tools/fetch-k8s-tools.sh $(BIN)

helm-readme: $(BIN)/.installed-test  ## write the chart README's values table from its values.yaml
	$(BIN)/python -m tests.chart_values --write

image-test:  ## build deploy/Dockerfile with buildah, run it as uid 65532, scrape it (root)
	PYTHON=$(PYTHON) bash deploy/image-test.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
