# The two commands an operator needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit bench bench-smoke image-test deploy-tools helm-readme clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed  ## simulator + exporter, no config: http://127.0.0.1:9877/metrics
	$(BIN)/drs-exporter demo

test: lint unit  ## everything CI runs

lint: $(BIN)/.installed
	$(BIN)/ruff check drs_exporter tests benchmarks
	$(BIN)/ruff format --check drs_exporter tests benchmarks
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest

bench: $(BIN)/.installed  ## the performance figures of the README
	$(BIN)/python benchmarks/bench.py

bench-smoke: $(BIN)/.installed
	$(BIN)/python benchmarks/bench.py --tiny

deploy-tools: $(BIN)/.installed  ## the pinned helm and kubectl, into .venv/bin, for the deploy tests
	bash deploy/tools/fetch-k8s-tools.sh $(BIN)

helm-readme: $(BIN)/.installed  ## write the chart README's values table from its values.yaml
	$(BIN)/python -m tests.chart_values --write

image-test:  ## build deploy/Dockerfile with buildah, run it as uid 65532, scrape it (root)
	PYTHON=$(PYTHON) bash deploy/image-test.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
