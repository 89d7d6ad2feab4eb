# blofin-stack: `make run` (venv + install + demo data + whole graph for the latest day) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UI_PORT ?= 3000
DOCS_PORT ?= 8080
BENCH_STAMP := $(VENV)/.bench-installed
# The CPU torch wheel: on this kind of machine it lies in PIP_FIND_LINKS (/opt/wheels); uv only looks
# there when told. Elsewhere the PyTorch CPU index serves torch==2.13.0+cpu.
WHEELS := $(or $(PIP_FIND_LINKS),$(wildcard /opt/wheels))
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SOURCE := $(if $(WHEELS),--find-links "$(WHEELS)",--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match)
DBT_FILES := $(shell find dbt_project -path dbt_project/target -prune -o \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)
MANIFEST := dbt_project/target/manifest.json

.PHONY: help install manifest run test test-spark test-spark-graph soak ui docs bench scale bench-spark lock clean report-png browser postgres

help:
	@echo "make run    - create .venv, install, generate the 30-day demo, materialize the days not reported yet (the latest on a fresh data dir), print the report path"
	@echo "make test   - install (if needed) and run the test suite"
	@echo "make test-spark - the dbt project built on a local Spark session and compared with DuckDB, model by model"
	@echo "make test-spark-graph - the whole daily graph with dbt on Spark (BLOFIN_DBT_TARGET=spark), its report against DuckDB's"
	@echo "make soak   - the long reliability tests (every crash point, 10k property examples)"
	@echo "make ui     - Dagster webserver + daemon on http://127.0.0.1:3000"
	@echo "make docs   - generate and serve dbt docs on http://127.0.0.1:8080"
	@echo "make bench  - every benchmark with its in-run reference and scaling exponent (data/bench/results.json; python -m bench record updates the committed bench/results.json)"
	@echo "make scale  - the 20 symbols x 30 days simulation: multiprocess executor, then 1 vs 2 symbol workers"
	@echo "make bench-spark - dbt on DuckDB vs Spark local per layer at 3, 12 and 48 days of history (how each grows; ~8 min)"
	@echo "make report-png - docs/img/report.png: a headless Chromium picture of the newest report (after make run)"
	@echo "make lock   - re-resolve requirements.lock / requirements-dev.lock / requirements-bench.lock (the venv's uv)"
	@echo "make browser - headless Chromium for the report/chart tests: Debian's chromium via apt where missing (root)"
	@echo "make postgres - PostgreSQL server binaries for the Dagster-on-PostgreSQL test: apt where missing (root)"

# --compile-bytecode: .pyc files written at install. Where PYTHONDONTWRITEBYTECODE is set (as on
# these machines) Python never writes them itself and compiles every imported module from source
# in every process: ~5 s per run of the graph (dagster, dbt, torch, xgboost), and again in each dbt
# subprocess. Our own packages are compiled too (stale ones are ignored after an edit).
# uv cache prune: where the registry's sdist download is never fresh (here), each install rebuilds
# pyspark from source and keeps a new 1.4 GB build in uv's cache (46 GB after a few dozen fresh clones
# filled this machine's disk); the prune drops the builds and files no install refers to any more.
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	@# xgboost-cpu ships the same module as the CUDA build named xgboost: a venv made before the switch drops that first
	$(BIN)/uv pip uninstall --quiet --python $(BIN)/python xgboost nvidia-nccl-cu12 2>/dev/null || true
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock -r requirements-dev.lock $(TORCH_SOURCE)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 blofin_cli dagster_defs python_assets bench > /dev/null
	$(BIN)/uv cache prune --quiet || echo "uv cache prune failed (the install itself is done)"
	touch $(STAMP)

install: $(STAMP)

# Bench-only references (vectorbt). Optional: when they do not install the bench runs without them.
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-bench.lock $(TORCH_SOURCE) \
		|| echo "bench references did not install; make bench runs without them"
	touch $(BENCH_STAMP)

# dagster-dbt loads the manifest at import: parse whenever a model, macro or yml changes.
# blofin-dbt: dbt whose saved parse (target/partial_parse.msgpack, copied into each data dir's target) fits any data dir.
$(MANIFEST): $(STAMP) $(DBT_FILES) dbt_project/dbt_project.yml dbt_project/profiles.yml dagster_defs/dbt/duckdb_dbt.py
	cd dbt_project && PATH="$(CURDIR)/$(BIN):$$PATH" blofin-dbt parse --quiet --profiles-dir .
	touch $(MANIFEST)

# The timeframe macros are generated from the timeframes seed (python_assets/platform/timeframes.py).
dbt_project/macros/timeframes.sql: dbt_project/seeds/timeframes.csv python_assets/platform/timeframes.py $(STAMP)
	$(BIN)/python -m python_assets.platform.timeframes

manifest: $(MANIFEST)

# The report and chart tests render pages in headless Chromium; .ci/run installs it here (apt, as root,
# where missing) so no test fixture installs anything. Best effort: without it those tests skip.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } || \
	    echo "chromium could not be installed: the browser tests will skip"; \
	  else echo "chromium is missing and apt is not available as root: the browser tests will skip"; fi; }

# tests/dagster_defs/test_postgres_instance.py starts a throwaway PostgreSQL server (deploy/dagster-postgres.yaml);
# .ci/run installs the server binaries here (apt, as root, where missing). Only the binaries are used: the
# Debian package's own cluster is never started by the test. Without them that test skips.
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1; } || \
	    echo "postgresql could not be installed: the PostgreSQL instance test will skip"; \
	  else echo "postgresql is missing and apt is not available as root: the PostgreSQL instance test will skip"; fi; }

run: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/blofin-stack demo

# Two pytest workers (the target machine has 2 cores; about half of the suite waits on one core
# otherwise); tests/conftest.py's scheduler keeps a file's tests on one worker. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)

# dbt on Apache Spark (pyspark local mode, Java 17) against DuckDB, model by model; part of `make test` too.
test-spark: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -p no:cacheprovider -m spark tests/dbt/test_spark_parity.py

# The whole daily graph with dbt on Spark (BLOFIN_DBT_TARGET=spark) against the DuckDB build; part of `make test` too.
test-spark-graph: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -p no:cacheprovider tests/dbt/test_spark_graph.py

# The long reliability runs: every crash kill point, 10,000 examples per property test.
soak: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" BLOFIN_SOAK=1 BLOFIN_HYPOTHESIS_EXAMPLES=10000 $(BIN)/python -m pytest -p no:cacheprovider -o timeout=1800 \
		tests/reliability tests/ingest/test_ingest_properties.py tests/backtest/test_engine_invariants.py \
		tests/dbt/test_composite_score.py tests/dagster_defs/test_real_data.py

ui: $(MANIFEST)
	home="$${DAGSTER_HOME:-$$(realpath -m "$${BLOFIN_DATA_DIR:-data}")/dagster_home}"; mkdir -p "$$home"; \
	test -f "$$home/dagster.yaml" || cp deploy/dagster.yaml "$$home/dagster.yaml"; \
	PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
	PATH="$(CURDIR)/$(BIN):$$PATH" DAGSTER_HOME="$$home" $(BIN)/dagster dev -m dagster_defs.definitions -h 127.0.0.1 -p $(UI_PORT)

report-png: $(STAMP)
	data="$${BLOFIN_DATA_DIR:-$(CURDIR)/data}"; page="$$(ls "$$data"/reports/????-??-??.html 2>/dev/null | tail -1)"; \
	test -n "$$page" || { echo "no report yet: run make run first"; exit 2; }; \
	mkdir -p docs/img && $(BIN)/python -m python_assets.reports.screenshot "$$page" docs/img/report.png

# Docs read a copy of the snapshot the last run published, never the live file a run may be writing; in that copy a
# view per lake dataset with files (macro docs_lake_views) gives the lake sources' columns their types in the catalog.
docs: $(MANIFEST)
	data="$$(realpath -m "$${BLOFIN_DATA_DIR:-data}")"; \
	test -f "$$data/warehouse_snapshot.duckdb" || { echo "no published warehouse yet: run make run first"; exit 2; }; \
	test "$$data/warehouse_snapshot.duckdb" -nt $(MANIFEST) || echo "note: the published warehouse predates the dbt project's last change: its tables' columns (the docs' catalog) are as of the last run; make run refreshes them"; \
	cp "$$data/warehouse_snapshot.duckdb" "$$data/docs_warehouse.duckdb" && cd dbt_project && \
	BLOFIN_DATA_DIR="$$data" BLOFIN_WAREHOUSE="$$data/docs_warehouse.duckdb" PATH="$(CURDIR)/$(BIN):$$PATH" \
		dbt run-operation docs_lake_views --quiet --profiles-dir . --target-path "$$data/dbt_docs" && \
	BLOFIN_DATA_DIR="$$data" BLOFIN_WAREHOUSE="$$data/docs_warehouse.duckdb" PATH="$(CURDIR)/$(BIN):$$PATH" \
		dbt docs generate --profiles-dir . --target-path "$$data/dbt_docs" && \
	PATH="$(CURDIR)/$(BIN):$$PATH" dbt docs serve --profiles-dir . --target-path "$$data/dbt_docs" --host 127.0.0.1 --port $(DOCS_PORT)

bench: $(MANIFEST) $(BENCH_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench

scale: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench scale

# dbt on DuckDB vs Spark local, per layer, at 3, 12 and 48 days of history (how each grows; ~8 min).
bench-spark: $(MANIFEST)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench spark

lock: $(STAMP)
	$(BIN)/uv pip compile requirements.in -p 3.11 $(TORCH_SOURCE) -o requirements.lock
	$(BIN)/uv pip compile requirements-dev.in -p 3.11 $(TORCH_SOURCE) -o requirements-dev.lock
	$(BIN)/uv pip compile requirements-bench.in -p 3.11 $(TORCH_SOURCE) -o requirements-bench.lock

clean:
	rm -rf dbt_project/target dbt_project/logs .pytest_cache
