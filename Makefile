# srem: `make run` sets up and runs the main job; `make test` runs the tests.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= results

.PHONY: setup run test bench lint eval clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job on its embedded default: one day of the paper's scenario.
run: $(STAMP)
	$(BIN)/srem run --agent greedy --out $(OUT)/run

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_env

# Regenerates the evaluation figure and numbers quoted in the README.
eval: $(STAMP)
	$(BIN)/srem eval --agents random,lag,greedy --instances 300 --out $(OUT)/eval

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
