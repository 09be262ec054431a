# Two commands on a fresh machine with only Python 3 and make: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.apisync-installed

.PHONY: venv debs test lint typecheck unit demo airflow bench clean compat

venv: $(STAMP)

# Bootstrap: a virtualenv, uv inside it for a fast resolve (pip as the fallback), then the
# project in editable mode with its dev extra. Re-runs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv || true
	if [ -x $(BIN)/uv ]; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'; \
	else \
	  $(BIN)/python -m pip install -q -e '.[dev]'; \
	fi
	touch $(STAMP)

# Debian packages the suite runs for real (PostgreSQL, Redis, Chromium): installs what is
# missing, as root; a no-op once they are there.
debs:
	bash scripts/debian-deps.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv debs
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

# The provider as users install it on every supported Airflow line (2.11, 3.0 - 3.3): one venv
# per line under .venv-compat/<line>, the built wheel (non-editable) with the line's pins from
# .ci/compat/, then the smoke suite (pytest -m "not standalone"). LINES="3.0 3.1" for a subset.
compat: venv
	bash scripts/compat.sh

demo: venv
	$(BIN)/python demo/run.py

airflow: venv
	$(BIN)/python demo/run.py --standalone

bench: venv
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-compat build dist .mypy_cache .ruff_cache

# Generated docs: the extra-fields table of docs/connections.md (client/fields.py;
# tests/test_connection_fields.py fails when it drifts) and the integration pages for the
# example DAGs (docs/dags/; tests/test_describe.py fails when they are stale). A throwaway
# AIRFLOW_HOME keeps local Airflow settings out of them.
.PHONY: docs
docs: venv
	$(BIN)/python -c "import pathlib; from airflow_provider_apisync.client.fields import with_table; \
	  p = pathlib.Path('docs/connections.md'); p.write_text(with_table(p.read_text()))"
	home=$$(mktemp -d); AIRFLOW_HOME=$$home $(BIN)/python -m airflow_provider_apisync.describe \
	  example_dags --out docs/dags; rc=$$?; rm -rf $$home; exit $$rc
