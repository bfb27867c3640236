#!/usr/bin/env bash
# Runs the end-to-end suites against `spin up` on a fresh database (ticketbuster_e2e) and
# Redis database 1:
# 1. the HTTP-only deployment (deploy/http-only/spin.toml, no sidecar, no Redis trigger):
#    the API suite in tests/, then the tests that stop and start spin themselves
#    (tests/tests/e2e_spin_restarts.rs): an order whose after-response work dies with spin,
#    settled by the next call of the jobs route, and a rotation of the token secret;
# 2. the full app (spin.toml) with the sidecar beside it: the API suite again, schemathesis
#    fuzzing every operation of docs/openapi.yaml (tests/openapi/fuzz.sh), and the browser
#    suite in frontend/e2e (headless Chromium, normal holds).
# The API suite runs with 3-second holds, so it can watch one expire. Every request comes
# from 127.0.0.1, so the per-address and per-account rate limits are raised; failed logins
# keep theirs, which the API suite checks. Stops everything afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
. scripts/spin-check.sh

listen="${E2E_LISTEN:-127.0.0.1:3099}"
sidecar_listen="${E2E_SIDECAR_LISTEN:-127.0.0.1:3097}"
db=ticketbuster_e2e
work=$(mktemp -d)
spin_pid=""
sidecar_pid=""
oidc_pid=""
stop_spin() {
  [ -n "$spin_pid" ] && kill "$spin_pid" 2>/dev/null && wait "$spin_pid" 2>/dev/null
  spin_pid=""
}
# stop <pid>: stops a process started here, if it still runs. What it answers to being
# stopped (node exits 143 on SIGTERM) is not the suite's result, so it is not returned.
stop() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop_spin || true
  stop "$sidecar_pid"
  stop "$oidc_pid"
  rm -rf "$work"
}
trap cleanup EXIT
logs() {
  echo "--- spin log ---" >&2; tail -n 50 "$work/spin.log" >&2
  echo "--- sidecar log ---" >&2; tail -n 20 "$work/sidecar.log" >&2
}

# tb-db and the sidecar as the images have them (static, scripts/build-images.sh), so that
# scripts/test.sh compiles them once.
native_target=x86_64-unknown-linux-musl
rustup target list --installed 2>/dev/null | grep -qx "$native_target" || rustup target add "$native_target"
cargo build --quiet --release --target "$native_target" -p ticketbuster-sidecar -p ticketbuster-db
native_bin="target/$native_target/release"

psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" "$native_bin/tb-db" setup
redis-cli -h 127.0.0.1 -n 1 flushdb >/dev/null

TICKETBUSTER_KEYS_DIR="$work/keys" . scripts/dev-keys.sh
SPIN_VARIABLE_JOBS_TOKEN=$(openssl rand -hex 32)
export SPIN_VARIABLE_JOBS_TOKEN
cat > "$work/runtime-config.toml" <<TOML
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379/1"
TOML

# A real OpenID Connect provider on loopback (tests/oidc): the apps accept its tokens too.
(cd tests/oidc && exec node provider.mjs) >"$work/oidc.out" 2>"$work/oidc.log" &
oidc_pid=$!
for _ in $(seq 1 100); do [ -s "$work/oidc.out" ] && break; sleep 0.2; done
E2E_OIDC_PROVIDER=$(head -n 1 "$work/oidc.out")
oidc_issuer=$(node -e 'console.log(JSON.parse(process.argv[1]).issuer)' "$E2E_OIDC_PROVIDER")
export E2E_OIDC_PROVIDER SPIN_VARIABLE_OIDC_ISSUER="$oidc_issuer" SPIN_VARIABLE_OIDC_ORIGIN="$oidc_issuer" \
  SPIN_VARIABLE_OIDC_AUDIENCE=ticketbuster-api

spin build >/dev/null
spin build -f deploy/http-only/spin.toml >/dev/null
export SPIN_VARIABLE_DB_URL="host=127.0.0.1 port=5432 user=postgres dbname=$db"
export SPIN_VARIABLE_RATE_LIMIT_PER_ADDRESS=600/1m SPIN_VARIABLE_RATE_LIMIT_PER_ACCOUNT=600/1m

# start_spin <hold ttl in seconds> [spin up's flags]: spin up, answering once its health
# check does.
start_spin() {
  local ttl="$1"; shift
  SPIN_VARIABLE_HOLD_TTL_SECONDS="$ttl" \
    spin up "${SPIN_UP_FLAGS[@]}" --listen "$listen" "$@" >"$work/spin.log" 2>&1 &
  spin_pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://$listen/api/health" >/dev/null 2>&1 && return 0
    kill -0 "$spin_pid" 2>/dev/null || break
    sleep 0.2
  done
  logs; echo "spin up did not become healthy" >&2; exit 1
}

# api_suite <deployment>: http-only or full.
api_suite() {
  E2E_DEPLOYMENT="$1" E2E_HOLD_TTL_SECONDS=3 TICKETBUSTER_URL="http://$listen" \
    E2E_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
    cargo test --quiet -p ticketbuster-tests --test e2e_spin -- --ignored --nocapture || { logs; exit 1; }
}

echo "[e2e] HTTP-only deployment: deploy/http-only/spin.toml, no sidecar" >&2
start_spin 3 -f deploy/http-only/spin.toml
api_suite http-only
stop_spin
# One at a time: one of them pauses Redis's writes.
E2E_SPIN_LOG_DIR="$work" E2E_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
  REDIS_URL="redis://127.0.0.1:6379" cargo test --quiet -p ticketbuster-tests \
  --test e2e_spin_restarts -- --ignored --nocapture --test-threads=1 || { tail -n 30 "$work"/spin-*.log >&2; exit 1; }

echo "[e2e] the full app: spin.toml with the sidecar" >&2
SIDECAR_LISTEN="$sidecar_listen" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
  REDIS_URL="redis://127.0.0.1:6379" JWT_SECRET="$SPIN_VARIABLE_JWT_SECRET" \
  "$native_bin/ticketbuster-sidecar" >"$work/sidecar.log" 2>&1 &
sidecar_pid=$!
export SPIN_VARIABLE_WEBSOCKET_URL="ws://$sidecar_listen/ws"
full_app=(--runtime-config-file "$work/runtime-config.toml")
start_spin 3 "${full_app[@]}"
api_suite full
echo "[e2e] schemathesis: every operation of docs/openapi.yaml fuzzed (tests/openapi/fuzz.sh)" >&2
TICKETBUSTER_URL="http://$listen" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
  TB_DB="$native_bin/tb-db" tests/openapi/fuzz.sh || { logs; echo "[e2e] schemathesis FAILED" >&2; exit 1; }
stop_spin

command -v chromium >/dev/null 2>&1 || apt_install chromium
curl -fs "http://$sidecar_listen/health" >/dev/null || { logs; echo "the sidecar is not healthy" >&2; exit 1; }
start_spin 600 "${full_app[@]}"
# The browser suite's organizer: an account registered through the API, made an organizer
# the way an operator does.
organizer_email="organizer-$(date +%s)@example.com"
organizer_password=$(openssl rand -hex 12)
curl -fsS -o /dev/null -H 'content-type: application/json' "http://$listen/api/auth/register" \
  -d "{\"email\":\"$organizer_email\",\"password\":\"$organizer_password\",\"name\":\"Olga Organizer\"}"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" "$native_bin/tb-db" grant-role "$organizer_email" organizer
(cd frontend && TICKETBUSTER_URL="http://$listen" E2E_ORGANIZER_EMAIL="$organizer_email" \
  E2E_ORGANIZER_PASSWORD="$organizer_password" node e2e/run.mjs) || { logs; exit 1; }
