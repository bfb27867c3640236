#!/usr/bin/env bash
# Starts the app under `spin up` against a fresh database (ticketbuster_e2e) and Redis
# database 1, runs the end-to-end suite in tests/ against it, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

listen="${E2E_LISTEN:-127.0.0.1:3099}"
db=ticketbuster_e2e
# Short holds, so the suite can watch one expire through spin.
hold_ttl=3
work=$(mktemp -d)
spin_pid=""
cleanup() {
  [ -n "$spin_pid" ] && kill "$spin_pid" 2>/dev/null && wait "$spin_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" cargo run --quiet --release -p ticketbuster-db --bin tb-db -- setup
redis-cli -h 127.0.0.1 -n 1 flushdb >/dev/null

TICKETBUSTER_KEYS_DIR="$work/keys" . scripts/dev-keys.sh
cat > "$work/runtime-config.toml" <<TOML
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379/1"
TOML

spin build >/dev/null
SPIN_VARIABLE_DB_URL="host=127.0.0.1 port=5432 user=postgres dbname=$db" \
SPIN_VARIABLE_HOLD_TTL_SECONDS=$hold_ttl \
  spin up --listen "$listen" --runtime-config-file "$work/runtime-config.toml" >"$work/spin.log" 2>&1 &
spin_pid=$!
sleep 1
kill -0 "$spin_pid" 2>/dev/null || { cat "$work/spin.log" >&2; echo "spin up exited" >&2; exit 1; }
E2E_HOLD_TTL_SECONDS=$hold_ttl TICKETBUSTER_URL="http://$listen" cargo test --quiet -p ticketbuster-tests --test e2e_spin -- --nocapture ||
  { echo "--- spin log ---" >&2; tail -n 50 "$work/spin.log" >&2; exit 1; }
