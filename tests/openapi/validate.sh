#!/usr/bin/env bash
# Checks docs/openapi.yaml with standard tools: PyYAML reads it, and openapi-spec-validator
# finds it valid OpenAPI 3.1. Then a test of the check itself: copies of the document broken
# on purpose (not YAML; not OpenAPI) must be refused. Prints `openapi document: N passed,
# N failed`; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/openapi/venv.sh || exit 1

# valid <file>: whether both tools accept it, their complaint on stderr if not.
valid() {
  "$OPENAPI_VENV/bin/python" - "$1" <<'PY'
import sys
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as f:
        yaml.safe_load(f)
    spec, base_uri = read_from_filename(path)
    validate(spec, base_uri=base_uri)
except Exception as e:  # noqa: BLE001 - any complaint fails the document
    print(f"{path}: {type(e).__name__}: {e}"[:2000], file=sys.stderr)
    sys.exit(1)
print(f"{path}: valid YAML and OpenAPI {spec['openapi']}", file=sys.stderr)
PY
}

passed=0
failed=0
check() {
  local what="$1"; shift
  if "$@"; then passed=$((passed + 1)); else echo "FAIL $what" >&2; failed=$((failed + 1)); fi
}

check "docs/openapi.yaml is valid" valid docs/openapi.yaml

broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
# A plain scalar with ": " inside a flow mapping: no longer YAML.
sed '0,/summary: /s//summary: { broken: a: b }/' docs/openapi.yaml >"$broken/not-yaml.yaml"
# A schema that is a string, not an object: YAML still, no longer OpenAPI.
sed "0,/schema: { \$ref: '#\/components\/schemas\/Error' }/s//schema: '{ type: string }'/" \
  docs/openapi.yaml >"$broken/not-openapi.yaml"
for copy in "$broken"/*.yaml; do
  check "$(basename "$copy") is refused" eval '! valid "$copy" 2>/dev/null'
  cmp -s "$copy" docs/openapi.yaml && { echo "FAIL $(basename "$copy") was not broken" >&2; failed=$((failed + 1)); }
done

printf 'openapi document: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
