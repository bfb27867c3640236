#!/usr/bin/env bash
# Fuzzes every operation of docs/openapi.yaml with schemathesis against a running app at
# $TICKETBUSTER_URL (scripts/e2e.sh's full app): schema-valid and invalid requests, each
# answer checked for no server error and a status, media type and body the document gives
# it. tests/openapi/fixtures.py first makes a customer, an organizer and a gate account with
# an event, holds, an order and a ticket, so that the authenticated operations get past
# their checks and half the cases of each operation with an `{id}` use a real one
# (hooks.py); the organizer's events are cancelled afterwards, so they leave the catalog.
# Prints `schemathesis: N passed, N failed` (operations); exits non-zero on any failure.
# Needs TICKETBUSTER_URL, DATABASE_URL and TB_DB (the tb-db binary).
# /api/jobs/run is left out: only deploy/http-only/spin.toml routes it (tests/tests/http_only.rs,
# tests/tests/openapi_matches.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/openapi/venv.sh
base="${TICKETBUSTER_URL:?}"
: "${DATABASE_URL:?}" "${TB_DB:?}"
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT

eval "$("$OPENAPI_VENV/bin/python" tests/openapi/fixtures.py setup)"

# schemathesis's own tallies ("33 passed") are reworded so that only the closing line below
# counts in scripts/test.sh's total. One worker: hypothesis's description of its strategies
# is not thread-safe (a "recursion depth mismatch" error with two).
set +e
HYPOTHESIS_STORAGE_DIRECTORY="$reports/hypothesis" PYTHONDONTWRITEBYTECODE=1 SCHEMATHESIS_HOOKS=hooks PYTHONPATH=tests/openapi "$OPENAPI_VENV/bin/schemathesis" \
  --config-file tests/openapi/schemathesis.toml --no-color run docs/openapi.yaml --url "$base" \
  --exclude-path /api/jobs/run \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --workers 1 --request-timeout 30 \
  --report junit --report-dir "$reports" --seed "${TB_FUZZ_SEED:-$RANDOM}" 2>&1 |
  sed -E 's/([0-9]+) (passed|failed|skipped)/\2: \1/g'
status=${PIPESTATUS[0]}
set -e

# The organizer's events leave the catalog (the browser suite picks from it).
"$OPENAPI_VENV/bin/python" tests/openapi/fixtures.py cancel "$TB_FUZZ_ORGANIZER_TOKEN"

# One line for scripts/test.sh's count: operations that passed every check, and those that did not.
"$OPENAPI_VENV/bin/python" - "$reports" "$status" <<'PY'
import glob, sys
import xml.etree.ElementTree as ET
reports, status = sys.argv[1:]
cases = [c for f in glob.glob(f"{reports}/**/*.xml", recursive=True) for c in ET.parse(f).iter("testcase")]
failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
# schemathesis failing without a failed operation (a schema it cannot load, a crash) counts as one.
if status != "0" and failed == 0:
    failed = 1
print(f"schemathesis: {len(cases) - failed} passed, {failed} failed")
PY
exit "$status"
