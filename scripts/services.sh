#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on loopback, installing and starting them when they don't.
# Safe to run when they already run. Sourced or executed; exports DATABASE_URL and REDIS_URL.
set -euo pipefail

PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
DB_NAME="${DB_NAME:-ticketbuster}"
STATE_DIR="${TICKETBUSTER_STATE_DIR:-/var/tmp/ticketbuster}"

log() { printf '[services] %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    log "need root to install: $*"; exit 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_answers() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -U postgres 2>/dev/null; }

pg_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

start_postgres() {
  command -v pg_isready >/dev/null 2>&1 && pg_answers && return 0
  [ -n "$(pg_bin_dir)" ] || apt_install postgresql postgresql-contrib
  local bin data
  bin=$(pg_bin_dir)
  data="$STATE_DIR/pgdata"
  mkdir -p "$STATE_DIR"
  # PostgreSQL refuses to run as root, so the cluster belongs to the postgres user.
  local as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$STATE_DIR" postgres
    chown postgres "$STATE_DIR"
    as_pg=(runuser -u postgres --)
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $data"
    "${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$STATE_DIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k /tmp -c max_connections=300 -c shared_buffers=256MB" start >/dev/null
  pg_answers || { log "PostgreSQL did not start; see $STATE_DIR/postgres.log"; exit 1; }
}

redis_ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null; }
redis_answers() { redis_ping | grep -q PONG; }
# A Redis reading its append-only file back answers LOADING: it runs, and answers once it
# has read it (17 s for the file of a day of benchmarks). Starting another then fails.
redis_runs() { redis_ping | grep -qE 'PONG|LOADING'; }
# Whether a Redis runs, waiting while it loads.
redis_up() {
  redis_runs || return 1
  for _ in $(seq 1 1500); do redis_answers && return 0; sleep 0.2; done
  log "Redis has been loading its data for 5 minutes; see $STATE_DIR/redis.log"; exit 1
}

start_redis() {
  command -v redis-cli >/dev/null 2>&1 && redis_up && return 0
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  redis_up && return 0
  mkdir -p "$STATE_DIR"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  # The append-only file keeps the waiting rooms' lines across a restart (docs/operations.md).
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' \
    --appendonly yes --appendfsync everysec \
    --dir "$STATE_DIR" --logfile "$STATE_DIR/redis.log"
  for _ in $(seq 1 50); do redis_up && return 0; sleep 0.1; done
  log "Redis did not start; see $STATE_DIR/redis.log"; exit 1
}

ensure_database() {
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    log "creating database $DB_NAME"
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE \"$DB_NAME\""
  fi
}

command -v psql >/dev/null 2>&1 || apt_install postgresql-client
start_postgres
start_redis
ensure_database
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
log "PostgreSQL and Redis are up ($DATABASE_URL, $REDIS_URL)"
