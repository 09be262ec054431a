#!/usr/bin/env bash
# `make compat`: the provider as users install it, on every supported Airflow line.
#
# Per line (LINES, default "2.11 3.0 3.1 3.2 3.3"): a venv under .venv-compat/<line> (kept
# between runs; uv's cache makes a re-install take seconds), Airflow at the line's latest
# patch with the known-good pins of .ci/compat/airflow-<line>.txt used as constraints (as a
# user would pass Airflow's constraint file), the wheel built from this checkout installed
# non-editable, then a smoke suite chosen to fit CI (all lines in ~20 min on 2 cores):
#   SMOKE (every line): the installed wheel, imports, provider discovery, the connection
#   form, hook request/paginate against FakeApi, metrics to StatsD, the compat shims, and
#   every example DAG that needs no API server under `airflow dags test` (which also checks
#   that no credential reaches the output); plus the Airflow adapters most exposed to
#   version drift (hook/test_connection, triggers, sensors in DAGs); on FALLBACK_LINES (2.11
#   and 3.2) also a pull with asset events and resume state and a push in a DAG.
#   The newest line (3.3) gets the full non-standalone suite from `make test`, so here only
#   the install smoke (SMOKE_NEWEST). COMPAT_FULL=1 runs `pytest -m "not standalone"` (the
#   whole suite but server-process tests and client/-only tests) on every line instead.
# Prints one summary line per Airflow line and exits non-zero if any line failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
UV=${UV:-$ROOT/.venv/bin/uv}
LINES=${LINES:-"2.11 3.0 3.1 3.2 3.3"}
PYTEST_ARGS=${PYTEST_ARGS:-}
NEWEST=3.3
SMOKE="tests/test_compat_smoke.py tests/test_compat.py tests/test_compat_metrics.py
  tests/test_example_dags.py tests/test_hook.py tests/test_triggers.py
  tests/test_sensor_dags.py"
# The pre-3.3 fallbacks (resume checkpoint file, high-water Variable, asset vs dataset
# events, push ledger resume) are one code path on 2.11-3.2: their adapter tests run on the
# two ends of that range only, to fit the CI budget (~1.5 min per line on an idle machine).
FALLBACK_LINES=${FALLBACK_LINES:-"2.11 3.2"}
SMOKE_FALLBACKS="tests/test_pull_airflow.py tests/test_push_dag.py"
SMOKE_NEWEST="tests/test_compat_smoke.py tests/test_compat.py"
# Tests of the pure-Python client/ layer (no Airflow import at all): they say nothing about
# an Airflow line and run once, in `make test`. COMPAT_ALL=1 runs them too (COMPAT_FULL).
CLIENT_ONLY="test_paginators test_ratelimit_headers test_signatures test_retry
  test_idempotency_keys test_throttling test_client_smoke test_chaos"
IGNORE=()
if [ -z "${COMPAT_ALL:-}" ]; then
  for t in $CLIENT_ONLY; do IGNORE+=(--ignore "tests/$t.py"); done
fi
OUT=$ROOT/.venv-compat
PY=${PYTHON:-python3}

mkdir -p "$OUT"
DIST=$(mktemp -d "$OUT/dist.XXXXXX")  # per run: two runs at once must not share a wheel
trap 'rm -rf "$DIST"' EXIT
"$UV" build -q --wheel --out-dir "$DIST" "$ROOT" || { echo "compat: wheel build failed"; exit 1; }
WHEEL=$(ls "$DIST"/*.whl)

summary=()
status=0
for line in $LINES; do
  pins=$ROOT/.ci/compat/airflow-$line.txt
  venv=$OUT/$line
  [ -f "$pins" ] || { echo "compat: no $pins"; exit 2; }
  airflow=$(grep -E '^apache-airflow==' "$pins")
  start=$(date +%s)
  echo "== compat $line: $airflow"
  if [ ! -x "$venv/bin/python" ]; then
    "$UV" venv -q --python "$PY" "$venv" || { status=1; summary+=("$line venv FAILED"); continue; }
  fi
  # --reinstall-package: the wheel's version does not change between commits.
  if ! "$UV" pip install -q --python "$venv/bin/python" -c "$pins" \
      --reinstall-package airflow-provider-apisync \
      "$airflow" "$WHEEL" pytest pytest-httpserver pytest-timeout "statsd>=3.3"; then
    status=1; summary+=("$line install FAILED"); continue
  fi
  installed=$("$venv/bin/python" -c 'import airflow; print(airflow.__version__)' 2>/dev/null)
  # Run from the checkout (tests, example DAGs, docs) but import the installed wheel:
  # APISYNC_COMPAT_LINE makes tests/test_compat_smoke.py check that it did.
  log=$OUT/$line.log
  if [ -n "${COMPAT_FULL:-}" ]; then
    tests=(-m "not standalone" "${IGNORE[@]}" tests)
  elif [ "$line" = "$NEWEST" ]; then
    tests=(-m "not standalone" $SMOKE_NEWEST)
  elif [[ " $FALLBACK_LINES " == *" $line "* ]]; then
    tests=(-m "not standalone" $SMOKE $SMOKE_FALLBACKS)
  else
    tests=(-m "not standalone" $SMOKE)
  fi
  APISYNC_COMPAT_LINE=$line "$venv/bin/pytest" -v -p no:cacheprovider --durations=15 \
    --tb=short $PYTEST_ARGS "${tests[@]}" > "$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  result=$(grep -E '^=* ?[0-9]+ (passed|failed)|no tests ran|error' "$log" | tail -1)
  grep -E '^(FAILED|ERROR) ' "$log" | head -n 60
  if [ $rc -ne 0 ]; then status=1; fi
  summary+=("Airflow $installed ($line): rc=$rc ${took}s $result")
done
echo "== compat summary"
printf '%s\n' "${summary[@]}"
echo "compat total: ${SECONDS}s (wheel build, venvs and tests)"
exit $status
