# Two commands for a newcomer: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export DAGSTER_HOME := $(abspath .dagster_home)

.PHONY: install demo test test-fast ui lint bench-extract bench-scale spark-install spark-check clean

# Re-install only when the dependency files change: the second run is quick.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The persistent Dagster instance (absolute, git-ignored): demo runs recorded here show in `make ui`.
$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster_home.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp orchestration/dagster_home.yaml $@

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/recon demo --days 7

# Tests use throwaway Dagster instances, never the persistent one. Test files are spread over
# TEST_WORKERS pytest-xdist processes (a file stays on one worker, so its fixtures are built once);
# TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	env -u DAGSTER_HOME $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	env -u DAGSTER_HOME $(BIN)/python -m pytest -q -m "not slow"

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/recon ui

# ruff (lint + format check) and the import contracts of pyproject's [tool.importlinter] (docs/architecture.md)
lint: $(STAMP)
	$(BIN)/ruff check orchestration schemas tests bench
	$(BIN)/ruff format --check orchestration schemas tests bench
	$(BIN)/lint-imports

bench-extract: $(STAMP)
	$(BIN)/python -m bench.extract

# recon vs the floor vs pandas on one generated day: make bench-scale SCALE=1000000 (or SCALE=1000000,10000000)
bench-scale: SCALE ?= 1000000
bench-scale: RUNS ?= 3
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale.harness --scales $(SCALE) --runs $(RUNS)

# The optional Spark extra (dbt-spark, pyspark; Java 17 on PATH), outside the default install.
SPARK_STAMP := $(VENV)/.spark-installed
$(SPARK_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,spark]"
	@touch $(SPARK_STAMP)

spark-install: $(SPARK_STAMP)

# The whole dbt project on DuckDB and on Spark, every mart compared row for row (bench/spark_check.py):
# make spark-check [DATA_DIR=<a recon data dir>]; without DATA_DIR a fresh `recon demo` in a temp dir.
spark-check: $(SPARK_STAMP)
	env -u DAGSTER_HOME $(BIN)/python -m bench.spark_check $(if $(DATA_DIR),--data-dir $(DATA_DIR))

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
