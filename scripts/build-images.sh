#!/usr/bin/env bash
# Builds the native images (deploy/images/Containerfile): the sidecar and the migrations
# tool tb-db as static musl binaries, smoke-tests them natively (tb-db sets up a throwaway
# database, the sidecar answers /health and stops on SIGTERM), builds the two FROM scratch
# images with podman (or buildah) and, where `podman run` works, smoke-tests the images
# too. It says what it skipped and why; it exits non-zero when a build or smoke test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Builds TicketBuster's native images: the sidecar and the migrations tool tb-db.

Usage: scripts/build-images.sh [OPTIONS]

Options:
      --no-images  Build and smoke-test the static binaries only (no podman/buildah)
      --no-run     Build the images but do not start containers from them
  -h, --help       Print help

Environment:
  IMAGE_PREFIX        Registry and namespace of the images [default: ghcr.io/ticketbuster]
  IMAGE_VERSION       Tag of the images [default: the crates' version in Cargo.toml]
  IMAGE_SOURCE        org.opencontainers.image.source label [default: https://github.com/ticketbuster/ticketbuster]
  CARGO_TARGET_DIR    Cargo's target folder, reused [default: target]
  PODMAN_RUN_FLAGS    Extra flags for `podman run` in the container smoke tests

Images (built into the local podman/buildah storage, never pushed; see scripts/push-app.sh):
  $IMAGE_PREFIX/sidecar:$IMAGE_VERSION   ENTRYPOINT /ticketbuster-sidecar, port 3001
  $IMAGE_PREFIX/tb-db:$IMAGE_VERSION     ENTRYPOINT /tb-db, CMD setup
EOF
}

build_images=1
run_containers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-images) build_images=0 ;;
    --no-run) run_containers=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "error: unexpected argument '$1'" >&2; echo >&2; usage >&2; exit 2 ;;
  esac
  shift
done

TARGET=x86_64-unknown-linux-musl
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BIN_DIR="$TARGET_DIR/$TARGET/release"
CONTEXT="$TARGET_DIR/images/context"
CONTAINERFILE=deploy/images/Containerfile
IMAGE_PREFIX="${IMAGE_PREFIX:-ghcr.io/ticketbuster}"
# 64 hex digits, like `openssl rand -hex 32`; only for the smoke tests.
TEST_JWT_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

step() { printf '\n==> %s\n' "$*" >&2; }
passed=0
failed=0
skipped=0
ok() { echo "ok      $*"; passed=$((passed + 1)); }
failure() { echo "FAILED  $*"; failed=$((failed + 1)); }
skip() { echo "SKIPPED $*"; skipped=$((skipped + 1)); }

smoke_db=""
sidecar_pid=""
podman_run=(podman)
container=""
logs=$(mktemp -d)
cleanup() {
  if [ -n "$sidecar_pid" ]; then kill "$sidecar_pid" 2>/dev/null || true; fi
  if [ -n "$container" ]; then "${podman_run[@]}" rm -f -t 0 "$container" >/dev/null 2>&1 || true; fi
  if [ -n "$smoke_db" ]; then
    psql -h 127.0.0.1 -p "${PG_PORT:-5432}" -U postgres -qc "DROP DATABASE IF EXISTS \"$smoke_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$logs"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $2 seconds for $1 to answer 200; prints the last status and body.
wait_health() {
  local url="$1" seconds="$2" status=000 _
  rm -f "$logs/health"
  for _ in $(seq 1 $((seconds * 10))); do
    status=$(curl -s -o "$logs/health" -w '%{http_code}' --max-time 1 "$url" || true)
    [ "$status" = 200 ] && break
    sleep 0.1
  done
  echo "$status $(cat "$logs/health" 2>/dev/null || true)"
  [ "$status" = 200 ]
}

show_log() { sed 's/^/    | /' "$1" | tail -n 20 >&2; }

# ---------------------------------------------------------------------------------------
step "static binaries ($TARGET, release)"
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET"
# No C code is compiled (no -sys crates: sqlx and redis without TLS), so the musl target's
# self-contained CRT and libc suffice and `cc` only drives the link: no musl-tools needed.
started=$(date +%s)
cargo build --release --target "$TARGET" -p ticketbuster-sidecar -p ticketbuster-db
echo "cargo build took $(($(date +%s) - started)) s" >&2

version=$(cargo pkgid -p ticketbuster-sidecar)
version="${IMAGE_VERSION:-${version##*@}}"
db_version=$(cargo pkgid -p ticketbuster-db)
db_version="${IMAGE_VERSION:-${db_version##*@}}"
SIDECAR_IMAGE="$IMAGE_PREFIX/sidecar:$version"
TBDB_IMAGE="$IMAGE_PREFIX/tb-db:$db_version"

for bin in ticketbuster-sidecar tb-db; do
  path="$BIN_DIR/$bin"
  if [ ! -x "$path" ]; then
    failure "$bin: $path was not built"
    continue
  fi
  size=$(du -h "$path" | cut -f1)
  # `file` says "static-pie linked" or "statically linked"; ldd "statically linked" or
  # "not a dynamic executable" (glibc's ldd on a static-pie).
  kind=$(file -b "$path")
  linkage=$(ldd "$path" 2>&1 || true)
  if [[ "$kind" == *static* && "$kind" != *interpreter* &&
    ("$linkage" == *"statically linked"* || "$linkage" == *"not a dynamic executable"*) ]]; then
    [[ "$kind" =~ (static[a-z-]*\ linked) ]] && kind="${BASH_REMATCH[1]}"
    ok "$bin is statically linked ($size, $kind, ldd: ${linkage//$'\t'/})"
  else
    failure "$bin is not statically linked: $kind; ldd: ${linkage%%$'\n'*}"
  fi
done

# ---------------------------------------------------------------------------------------
step "native smoke tests (PostgreSQL and Redis on loopback)"
# shellcheck source=scripts/services.sh
. scripts/services.sh
# A database of its own: the migrations run for real, and the sidecar's jobs (which take a
# per-database advisory lock) never compete with a sidecar of scripts/up.sh.
smoke_db="tb_images_smoke_$$"
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS \"$smoke_db\"" >/dev/null 2>&1
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE \"$smoke_db\""
smoke_url="${DATABASE_URL%/*}/$smoke_db"

# Start-up without a database (clap), then a real `tb-db setup` on the throwaway database.
if "$BIN_DIR/tb-db" --help >"$logs/tb-db" 2>&1 && tbdb_version=$("$BIN_DIR/tb-db" --version 2>&1); then
  ok "tb-db --help and --version (native): $tbdb_version"
else
  failure "tb-db --help/--version (native)"; show_log "$logs/tb-db"
fi
if DATABASE_URL="$smoke_url" "$BIN_DIR/tb-db" setup >"$logs/tb-db" 2>&1; then
  ok "tb-db setup (native): $(tr '\n' ' ' <"$logs/tb-db")"
else
  failure "tb-db setup (native) exited $?"; show_log "$logs/tb-db"
fi

port=$(free_port)
SIDECAR_LISTEN="127.0.0.1:$port" DATABASE_URL="$smoke_url" REDIS_URL="$REDIS_URL" \
  JWT_SECRET="$TEST_JWT_SECRET" "$BIN_DIR/ticketbuster-sidecar" >"$logs/sidecar" 2>&1 &
sidecar_pid=$!
if health=$(wait_health "http://127.0.0.1:$port/health" 10); then
  ok "sidecar (native) /health on 127.0.0.1:$port: $health"
else
  failure "sidecar (native) /health on 127.0.0.1:$port: ${health:-no answer}"; show_log "$logs/sidecar"
fi
kill -TERM "$sidecar_pid" 2>/dev/null || true
stopped=0
for _ in $(seq 1 100); do
  kill -0 "$sidecar_pid" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
if [ "$stopped" = 1 ]; then
  status=0; wait "$sidecar_pid" || status=$?
  if [ "$status" = 0 ]; then ok "sidecar (native) stops on SIGTERM with status 0"
  else failure "sidecar (native) exited $status on SIGTERM"; show_log "$logs/sidecar"; fi
else
  failure "sidecar (native) still runs 10 s after SIGTERM"; kill -KILL "$sidecar_pid" 2>/dev/null || true
fi
sidecar_pid=""

# ---------------------------------------------------------------------------------------
summary() {
  echo
  echo "images: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
}

if [ "$build_images" = 0 ]; then
  skip "image builds: --no-images"
  summary; exit
fi

step "images ($CONTAINERFILE)"
builder=""
if command -v podman >/dev/null 2>&1; then
  builder=podman
elif command -v buildah >/dev/null 2>&1; then
  builder=buildah
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing podman (apt)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >&2 && builder=podman
fi
if [ -z "$builder" ]; then
  skip "image builds: neither podman nor buildah is installed (and not root, so not installed now)"
  summary; exit
fi
echo "builder: $($builder --version)" >&2

# A context of the two binaries only, not the repository (target/ is gigabytes).
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT"
cp "$BIN_DIR/ticketbuster-sidecar" "$BIN_DIR/tb-db" "$CONTEXT/"
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
# The commit's time, not the clock (SOURCE_DATE_EPOCH overrides it), for the label and,
# with --timestamp, for the image and its files: the same binaries and commit give the
# same image id, so a rebuild leaves no superseded image behind.
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
source_url="${IMAGE_SOURCE:-https://github.com/ticketbuster/ticketbuster}"

inspect_layers() { "$builder" inspect --type image --format '{{len .RootFS.Layers}}' "$1" 2>/dev/null || echo '?'; }
built=()
for target in sidecar tb-db; do
  if [ "$target" = sidecar ]; then image="$SIDECAR_IMAGE"; else image="$TBDB_IMAGE"; fi
  build=(build)
  [ "$builder" = buildah ] && build=(bud)
  # --layers=false: buildah 1.28's layer cache ignores changed --build-arg values and
  # would keep the old labels; without it each image is one layer and a config anyway.
  if "$builder" "${build[@]}" --quiet --layers=false --timestamp "$epoch" \
    -f "$CONTAINERFILE" --target "$target" \
    --build-arg VERSION="${image##*:}" --build-arg REVISION="$revision" \
    --build-arg CREATED="$created" --build-arg SOURCE="$source_url" \
    -t "$image" "$CONTEXT" >"$logs/build" 2>&1; then
    # inspect, not `images <name>`: that also lists other registries' sidecar:0.1.0.
    size=$("$builder" inspect --type image --format '{{.Size}}' "$image" 2>/dev/null || echo 0)
    ok "built $image ($(numfmt --to=si --suffix=B "$size"), $(inspect_layers "$image") layer)"
    built+=("$target")
  else
    failure "building $image with $builder"; show_log "$logs/build"
  fi
done

# Images of earlier builds the tags have moved off (new binaries), and their build
# cache: only ours, found by label.
if [ "${#built[@]}" -gt 0 ]; then
  "$builder" image prune -f --filter label=org.opencontainers.image.vendor=TicketBuster >/dev/null 2>&1 || true
fi

# What Kubernetes relies on: user, entrypoint, listen address and port.
inspect() { "$builder" inspect --type image --format "$2" "$1" 2>/dev/null | tr -d '\n'; }
for target in "${built[@]}"; do
  if [ "$target" = sidecar ]; then
    got="user=$(inspect "$SIDECAR_IMAGE" '{{.Config.User}}') entrypoint=$(inspect "$SIDECAR_IMAGE" '{{.Config.Entrypoint}}') env=$(inspect "$SIDECAR_IMAGE" '{{.Config.Env}}') ports=$(inspect "$SIDECAR_IMAGE" '{{.Config.ExposedPorts}}')"
    if [[ "$got" == *"user=65532:65532 "* && "$got" == *"entrypoint=[/ticketbuster-sidecar]"* &&
      "$got" == *"SIDECAR_LISTEN=0.0.0.0:3001"* && "$got" == *"3001/tcp"* ]]; then
      ok "sidecar image config: $got"
    else
      failure "sidecar image config: $got"
    fi
  else
    got="user=$(inspect "$TBDB_IMAGE" '{{.Config.User}}') entrypoint=$(inspect "$TBDB_IMAGE" '{{.Config.Entrypoint}}') cmd=$(inspect "$TBDB_IMAGE" '{{.Config.Cmd}}')"
    if [[ "$got" == "user=65532:65532 entrypoint=[/tb-db] cmd=[setup]" ]]; then
      ok "tb-db image config: $got"
    else
      failure "tb-db image config: $got"
    fi
  fi
done

# ---------------------------------------------------------------------------------------
step "container smoke tests (podman run --network host --read-only --cap-drop all)"
if [ "$run_containers" = 0 ]; then
  skip "container runs: --no-run"
  summary; exit
fi
if [ "$builder" != podman ]; then
  skip "container runs: only buildah is installed (buildah builds images but does not run them)"
  summary; exit
fi
if [ "${#built[@]}" -lt 2 ]; then
  skip "container runs: not every image built"
  summary; exit
fi

# `podman run` exits 125-127 when podman or the OCI runtime fails, before the image's
# process runs; anything else is the process's own status.
runtime_failed() { [ "$1" -ge 125 ] && [ "$1" -le 127 ]; }
# shellcheck disable=SC2206 # PODMAN_RUN_FLAGS is split into words on purpose
# As deploy/kubernetes runs them: read-only root, no capabilities, no privilege escalation.
run_flags=(--network host --read-only --cap-drop all --security-opt no-new-privileges ${PODMAN_RUN_FLAGS:-})

# Sandboxes without CAP_SYS_RESOURCE refuse podman's default rlimits (nofile and nproc
# raised to 1048576), and crun refuses hybrid cgroups (v1 plus a cgroup2 mount that has
# controllers); runc copes. Both workarounds are only used when the first try fails.
sandbox_flags() {
  local nofile
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  run_flags+=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
  # (cgroupfs files report size 0, hence cat rather than test -s)
  if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
    if ! command -v runc >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing runc (apt): crun does not run containers with hybrid cgroups" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >&2 || true
    fi
    command -v runc >/dev/null 2>&1 && podman_run=(podman --runtime runc)
  fi
  echo "retrying with: ${podman_run[*]} run ${run_flags[*]}" >&2
}

tbdb_in_container() {
  "${podman_run[@]}" run --rm "${run_flags[@]}" -e DATABASE_URL="$smoke_url" "$TBDB_IMAGE" migrate \
    >"$logs/tb-db-container" 2>&1
}
status=0; tbdb_in_container || status=$?
if runtime_failed "$status"; then
  echo "podman run failed before the image's process ran: $(grep -m1 -i error "$logs/tb-db-container" || tail -n 1 "$logs/tb-db-container")" >&2
  sandbox_flags
  status=0; tbdb_in_container || status=$?
fi
if runtime_failed "$status"; then
  skip "container runs: podman builds images here but cannot run containers: $(grep -m1 -i error "$logs/tb-db-container" || tail -n 1 "$logs/tb-db-container")"
  summary; exit
elif [ "$status" = 0 ]; then
  ok "tb-db image: migrate (read-only, as 65532): $(tr '\n' ' ' <"$logs/tb-db-container")"
else
  failure "tb-db image: migrate exited $status"; show_log "$logs/tb-db-container"
fi

port=$(free_port)
container="tb-images-smoke-sidecar-$$"
# Host networking: the loopback services are reachable and the port is local only, so the
# listen address is overridden; the image's own (0.0.0.0:3001) is checked above.
if "${podman_run[@]}" run -d --name "$container" "${run_flags[@]}" \
  -e SIDECAR_LISTEN="127.0.0.1:$port" -e DATABASE_URL="$smoke_url" -e REDIS_URL="$REDIS_URL" \
  -e JWT_SECRET="$TEST_JWT_SECRET" "$SIDECAR_IMAGE" >"$logs/sidecar-container" 2>&1; then
  if health=$(wait_health "http://127.0.0.1:$port/health" 10); then
    ok "sidecar image: /health on 127.0.0.1:$port: $health"
  else
    failure "sidecar image: /health on 127.0.0.1:$port: ${health:-no answer}"
    podman logs "$container" >"$logs/sidecar-container" 2>&1 || true; show_log "$logs/sidecar-container"
  fi
  "${podman_run[@]}" stop -t 10 "$container" >/dev/null 2>&1 || true
  code=$("${podman_run[@]}" inspect --format '{{.State.ExitCode}}' "$container" 2>/dev/null || echo '?')
  if [ "$code" = 0 ]; then ok "sidecar image: stops on SIGTERM with status 0"
  else failure "sidecar image: exit status $code after podman stop"; fi
  "${podman_run[@]}" rm -f -t 0 "$container" >/dev/null 2>&1 || true
  container=""
else
  failure "sidecar image: podman run"; show_log "$logs/sidecar-container"
  container=""
fi

summary
