#!/usr/bin/env bash
# Generates the development JWT signing keys (Ed25519) once, outside git, and exports
# them as the Spin variables the components read. Source it: `. scripts/dev-keys.sh`.
set -euo pipefail
keys_dir="${TICKETBUSTER_KEYS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.dev}"
mkdir -p "$keys_dir"
if [ ! -s "$keys_dir/jwt-private.pem" ]; then
  command -v openssl >/dev/null 2>&1 || { echo "openssl is needed to generate keys" >&2; exit 1; }
  openssl genpkey -algorithm ed25519 -out "$keys_dir/jwt-private.pem" 2>/dev/null
  chmod 600 "$keys_dir/jwt-private.pem"
  openssl pkey -in "$keys_dir/jwt-private.pem" -pubout -out "$keys_dir/jwt-public.pem"
  echo "[keys] generated development JWT keys in $keys_dir" >&2
fi
SPIN_VARIABLE_JWT_PRIVATE_KEY="$(cat "$keys_dir/jwt-private.pem")"
SPIN_VARIABLE_JWT_PUBLIC_KEY="$(cat "$keys_dir/jwt-public.pem")"
export SPIN_VARIABLE_JWT_PRIVATE_KEY SPIN_VARIABLE_JWT_PUBLIC_KEY
