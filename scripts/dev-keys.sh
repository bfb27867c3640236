#!/usr/bin/env bash
# Generates the development token secret once, outside git, and exports it as the Spin
# variable the components read. Source it: `. scripts/dev-keys.sh`.
set -euo pipefail
keys_dir="${TICKETBUSTER_KEYS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.dev}"
mkdir -p "$keys_dir"
if [ ! -s "$keys_dir/jwt-secret" ]; then
  command -v openssl >/dev/null 2>&1 || { echo "openssl is needed to generate the secret" >&2; exit 1; }
  (umask 077 && openssl rand -hex 32 > "$keys_dir/jwt-secret")
  echo "[keys] generated a development token secret in $keys_dir" >&2
fi
SPIN_VARIABLE_JWT_SECRET="$(cat "$keys_dir/jwt-secret")"
export SPIN_VARIABLE_JWT_SECRET
