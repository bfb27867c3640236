#!/usr/bin/env bash
# Brings the whole stack up: PostgreSQL and Redis (installed and started when missing),
# migrations and seed data, the components built for wasm, the native sidecar, and two
# supervised `spin up`s, the HTTP app and the order worker (as on Kubernetes): each
# restarted when it exits, the worker also when it stays alive but deaf (no subscriber on
# `orders`, as after a Redis restart). A watchdog also starts PostgreSQL and Redis again
# when they stay down.
#
#   scripts/up.sh            # listens on 127.0.0.1:3000
#   SPIN_LISTEN=127.0.0.1:8080 SIDECAR_LISTEN=127.0.0.1:8081 scripts/up.sh
set -euo pipefail
cd "$(dirname "$0")/.."
listen="${SPIN_LISTEN:-127.0.0.1:3000}"

. scripts/spin-check.sh
if ! spin_usable; then
  cat >&2 <<'MSG'
TicketBuster needs Spin 4.1 or later (its components use spin-sdk 7 and WASI 0.3.0).
Spin's installer gives its latest release by default (4.0.x, too old); its canary build
(Spin's main branch) is new enough. Install it and put it on PATH:
    curl -fsSL https://spinframework.dev/downloads/install.sh | bash -s -- -v canary
    sudo mv spin /usr/local/bin/
then run scripts/up.sh again.
MSG
  exit 1
fi

. scripts/services.sh
. scripts/dev-keys.sh
rustup target list --installed 2>/dev/null | grep -q wasm32-wasip2 || rustup target add wasm32-wasip2

echo "[up] applying migrations and seed data" >&2
DATABASE_URL="$DATABASE_URL" cargo run --quiet --release -p ticketbuster-db --bin tb-db -- setup

echo "[up] building the components and the sidecar" >&2
spin build
cargo build --quiet --release -p ticketbuster-sidecar

# The sidecar: WebSockets (notifications, live seat maps) on $SIDECAR_LISTEN, and the
# periodic jobs (stalled orders published again, hold warnings, lapsed seats freed).
sidecar_listen="${SIDECAR_LISTEN:-127.0.0.1:3001}"
# Browsers learn the WebSocket's address from the web component.
export SPIN_VARIABLE_WEBSOCKET_URL="${SPIN_VARIABLE_WEBSOCKET_URL:-ws://$sidecar_listen/ws}"
# It settles orders itself while no worker listens, with the worker's settings.
SIDECAR_LISTEN="$sidecar_listen" DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" \
  JWT_SECRET="$SPIN_VARIABLE_JWT_SECRET" \
  PAYMENT_FAILURE_RATE="${SPIN_VARIABLE_PAYMENT_FAILURE_RATE:-0}" \
  WORKER_BATCH_SIZE="${SPIN_VARIABLE_WORKER_BATCH_SIZE:-200}" \
  WORKER_LANES="${SPIN_VARIABLE_WORKER_LANES:-4}" \
  target/release/ticketbuster-sidecar &
sidecar_pid=$!

# Two spin processes, as on Kubernetes (deploy/kubernetes/base/app.yaml and worker.yaml):
# the HTTP app, and the order worker alone. Spin ends, or leaves deaf, a Redis trigger
# whose connection drops; with both in one process, restarting the worker after a Redis
# restart took the whole site down for seconds. Their pids are in these files.
app_pid_file="$STATE_DIR/spin-up.pid"
worker_pid_file="$STATE_DIR/spin-worker.pid"
mapfile -t http_components < <(python3 -c '
import tomllib
manifest = tomllib.load(open("spin.toml", "rb"))
print("\n".join(sorted({t["component"] for t in manifest["trigger"]["http"]})))')
app_flags=()
for component in "${http_components[@]}"; do app_flags+=(--component-id "$component"); done

# The watchdog, every 2 s. PostgreSQL or Redis down for 10 s is started again (an
# operator's own restart gets that long). A worker that has not listened on `orders` for
# 10 s is killed, and its loop below starts it again; meanwhile the sidecar settles
# orders itself.
watchdog() {
  local pg_down=0 redis_down=0 deaf=0 worker_pid
  while sleep 2; do
    if pg_answers; then pg_down=0; else pg_down=$((pg_down + 1)); fi
    if redis_runs; then redis_down=0; else redis_down=$((redis_down + 1)); fi
    if [ "$pg_down" -ge 5 ]; then
      echo "[up] PostgreSQL has not answered for 10 s; starting it" >&2
      (start_postgres) || true; pg_down=0
    fi
    if [ "$redis_down" -ge 5 ]; then
      echo "[up] Redis has not answered for 10 s; starting it" >&2
      (start_redis) || true; redis_down=0
    fi
    worker_pid=$(cat "$worker_pid_file" 2>/dev/null) || continue
    kill -0 "$worker_pid" 2>/dev/null && [ "$redis_down" -eq 0 ] || { deaf=0; continue; }
    if [ "$(redis-cli -p "$REDIS_PORT" pubsub numsub orders 2>/dev/null | tail -n 1)" = 0 ]; then
      deaf=$((deaf + 1))
    else
      deaf=0
    fi
    if [ "$deaf" -ge 5 ]; then
      echo "[up] no order worker has listened on 'orders' for 10 s; restarting it" >&2
      kill -KILL "$worker_pid" 2>/dev/null || true
      deaf=0
    fi
  done
}

# PostgreSQL starts every backend in a session of its own, and the kernel's autogroup
# scheduler shares the CPU between sessions rather than threads: under load each busy
# backend weighed as much as all of Spin. So each spin gets a session whose weight is that
# of about nine (nice -10), where the kernel lets us (root); elsewhere it runs as before.
# setsid does not fork here (a background job of a script leads no process group), so
# $! stays spin's pid. Measured: docs/benchmarks.md, "Settings and the measurements behind them".
in_own_session=(setsid bash -c 'echo -10 2>/dev/null >/proc/self/autogroup; exec "$@"' own-session)

# supervise NAME PID_FILE COMMAND...: runs COMMAND in a session of its own, keeps its pid
# in PID_FILE, and starts it again 1 s after it exits, until this loop gets INT or TERM.
supervise() {
  local name=$1 pid_file=$2 pid=""
  shift 2
  trap 'kill "$pid" 2>/dev/null; rm -f "$pid_file"; exit 0' INT TERM
  while true; do
    "${in_own_session[@]}" "$@" &
    pid=$!
    echo "$pid" >"$pid_file"
    wait "$pid" || true
    # Spin leads its own process group: a trigger it left behind (spin killed) goes too.
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "[up] $name exited; restarting in 1 s" >&2
    sleep 1
    # In a subshell: services.sh exits when it cannot start a service, which must not end
    # this loop (the next turn tries again).
    (. scripts/services.sh) || true
  done
}

supervise "spin (the HTTP app)" "$app_pid_file" spin up "${SPIN_UP_FLAGS[@]}" "${app_flags[@]}" \
  --listen "$listen" --runtime-config-file runtime-config.toml &
app_loop=$!
# Spin refuses HTTP flags (--listen, --idle-instance-timeout) without an HTTP trigger.
supervise "spin (the order worker)" "$worker_pid_file" spin up --component-id order-worker \
  --runtime-config-file runtime-config.toml &
worker_loop=$!
watchdog &
watchdog_pid=$!

# The loops end their spins on INT or TERM; these kills are for a spin a loop started
# again just as it was told to stop.
stop_all() {
  kill "$app_loop" "$worker_loop" "$sidecar_pid" "$watchdog_pid" 2>/dev/null || true
  sleep 0.5
  local pid_file
  for pid_file in "$app_pid_file" "$worker_pid_file"; do
    kill "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null || true
    rm -f "$pid_file"
  done
}
trap stop_all EXIT
trap 'exit 0' INT TERM
echo "[up] TicketBuster on http://$listen, WebSockets on ws://$sidecar_listen/ws (Ctrl-C stops it)" >&2
wait
