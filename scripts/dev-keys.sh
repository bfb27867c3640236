#!/usr/bin/env bash
# Generates the development secrets once, outside git (the token secret and the Ed25519
# key that signs tickets), and exports them as the Spin variables the components read.
# Source it: `. scripts/dev-keys.sh`.
set -euo pipefail
keys_dir="${TICKETBUSTER_KEYS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.dev}"
mkdir -p "$keys_dir"
if [ ! -s "$keys_dir/jwt-secret" ] || [ ! -s "$keys_dir/ticket-signing-key.pem" ]; then
  command -v openssl >/dev/null 2>&1 || { echo "openssl is needed to generate the secrets" >&2; exit 1; }
fi
if [ ! -s "$keys_dir/jwt-secret" ]; then
  (umask 077 && openssl rand -hex 32 > "$keys_dir/jwt-secret")
  echo "[keys] generated a development token secret in $keys_dir" >&2
fi
if [ ! -s "$keys_dir/ticket-signing-key.pem" ]; then
  (umask 077 && openssl genpkey -algorithm ed25519 -out "$keys_dir/ticket-signing-key.pem")
  echo "[keys] generated a development ticket signing key in $keys_dir" >&2
fi
SPIN_VARIABLE_JWT_SECRET="$(cat "$keys_dir/jwt-secret")"
SPIN_VARIABLE_TICKET_SIGNING_KEY="$(cat "$keys_dir/ticket-signing-key.pem")"
export SPIN_VARIABLE_JWT_SECRET SPIN_VARIABLE_TICKET_SIGNING_KEY
