#!/usr/bin/env bash
# Sourced: makes sure $OPENAPI_VENV holds the pinned tools of requirements.txt (PyYAML,
# openapi-spec-validator, schemathesis), making the venv as scripts/check-deploy.sh does.
OPENAPI_VENV="${TICKETBUSTER_STATE_DIR:-/var/tmp/ticketbuster}/openapi-venv"
openapi_requirements="$(dirname "${BASH_SOURCE[0]}")/requirements.txt"
# The requirements as installed, so that a changed pin reinstalls.
if ! cmp -s "$openapi_requirements" "$OPENAPI_VENV/requirements.txt" 2>/dev/null; then
  echo "[openapi] setting up $OPENAPI_VENV" >&2
  mkdir -p "$(dirname "$OPENAPI_VENV")"
  rm -rf "$OPENAPI_VENV"
  if ! python3 -m venv "$OPENAPI_VENV" >/dev/null 2>&1; then
    # Debian's python3 makes venvs only with python3-venv.
    rm -rf "$OPENAPI_VENV"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 &&
      python3 -m venv "$OPENAPI_VENV" || { echo "[openapi] could not make a Python venv" >&2; return 1; }
  fi
  "$OPENAPI_VENV/bin/pip" install -q --disable-pip-version-check -r "$openapi_requirements" >&2 ||
    { echo "[openapi] could not install $openapi_requirements" >&2; return 1; }
  cp "$openapi_requirements" "$OPENAPI_VENV/requirements.txt"
fi
