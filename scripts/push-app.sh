#!/usr/bin/env bash
# Publishes TicketBuster: the Spin app as an OCI artifact (`spin registry push`; SpinKube's
# SpinApp `image` points at it) and, with --images, the native images that
# scripts/build-images.sh builds (the sidecar and tb-db, `podman push`).
set -euo pipefail
cd "$(dirname "$0")/.."

DEFAULT_APP_IMAGE=ghcr.io/ticketbuster/ticketbuster:0.1.0

usage() {
  cat <<EOF
Pushes the TicketBuster Spin app to an OCI registry, and the native images on request.

Usage: scripts/push-app.sh [OPTIONS] [REFERENCE]

Arguments:
  [REFERENCE]  Where the app goes: <registry>/<namespace>/<name>:<tag>
               [env: TICKETBUSTER_APP_IMAGE=] [default: $DEFAULT_APP_IMAGE]

Options:
      --no-build                Push what the last builds left: no \`spin build\` (and, with
                                --images, no scripts/build-images.sh)
      --images                  Also push the sidecar and tb-db images to
                                <PREFIX>/sidecar:<version> and <PREFIX>/tb-db:<version>
      --image-prefix <PREFIX>   Registry and namespace of the pushed images
                                [env: TICKETBUSTER_IMAGE_PREFIX=] [default: REFERENCE without
                                its last path segment, e.g. ghcr.io/ticketbuster]
  -k, --insecure                Plain HTTP or unverified TLS (spin --insecure, podman
                                --tls-verify=false): for a registry on loopback only
      --annotation <KEY=VALUE>  An extra OCI manifest annotation of the app (repeatable)
      --dry-run                 Print the commands instead of running them
  -h, --help                    Print help

Builds first unless --no-build: \`spin build\` (the components and the web app), then
\`spin registry push\` (Spin composes component dependencies before pushing); with
--images, scripts/build-images.sh (static binaries, images, smoke tests) before
\`podman push\`. The images are read from the local storage under IMAGE_PREFIX
[default: ghcr.io/ticketbuster], where build-images.sh puts them.

Credentials are not handled here: \`spin registry login <registry>\` and
\`podman login <registry>\` first (or Docker's config.json, which both read).

Examples:
  scripts/push-app.sh                                    # ghcr.io/ticketbuster/ticketbuster:0.1.0
  scripts/push-app.sh --images ghcr.io/acme/app:1.2.0    # and ghcr.io/acme/{sidecar,tb-db}:0.1.0
  scripts/push-app.sh --insecure 127.0.0.1:5000/ticketbuster/ticketbuster:test
EOF
}

build=1
images=0
insecure=0
dry_run=0
reference="${TICKETBUSTER_APP_IMAGE:-}"
image_prefix="${TICKETBUSTER_IMAGE_PREFIX:-}"
annotations=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --images) images=1 ;;
    --image-prefix) [ $# -ge 2 ] || { echo "error: --image-prefix needs a value" >&2; exit 2; }
      image_prefix="$2"; shift ;;
    --image-prefix=*) image_prefix="${1#*=}" ;;
    -k | --insecure) insecure=1 ;;
    --annotation) [ $# -ge 2 ] || { echo "error: --annotation needs KEY=VALUE" >&2; exit 2; }
      annotations+=(--annotation "$2"); shift ;;
    --annotation=*) annotations+=(--annotation "${1#*=}") ;;
    --dry-run) dry_run=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "error: unexpected argument '$1'" >&2; echo >&2; echo "For more information, try '--help'." >&2; exit 2 ;;
    *) if [ -n "${positional:-}" ]; then
         echo "error: unexpected argument '$1' (the reference is '$positional')" >&2; exit 2
       fi
       positional="$1"; reference="$1" ;;
  esac
  shift
done
reference="${reference:-$DEFAULT_APP_IMAGE}"

# <registry>/<path>:<tag> with a registry host (a dot, a colon or localhost) and a tag.
registry="${reference%%/*}"
if [ "$registry" = "$reference" ] || ! [[ "$registry" == *.* || "$registry" == *:* || "$registry" == localhost ]]; then
  echo "error: '$reference' has no registry host; use e.g. ghcr.io/<namespace>/app:<tag>" >&2; exit 2
fi
last_segment="${reference##*/}"
if [[ "$last_segment" != *:* && "$reference" != *@sha256:* ]]; then
  echo "error: '$reference' has no tag; use e.g. $reference:0.1.0" >&2; exit 2
fi
image_prefix="${image_prefix:-${reference%/*}}"

step() { printf '\n==> %s\n' "$*" >&2; }
run() {
  printf '+ %s\n' "$*" >&2
  [ "$dry_run" = 1 ] || "$@"
}

# spin reads SPIN_ALWAYS_BUILD as --build; the build is explicit here, so not twice.
unset SPIN_ALWAYS_BUILD
command -v spin >/dev/null 2>&1 || { echo "error: spin is not on PATH" >&2; exit 1; }

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
push_flags=()
[ "$insecure" = 1 ] && push_flags+=(--insecure)
# Spin itself annotates title, version and description (from spin.toml) and created.
push_flags+=(
  --annotation "org.opencontainers.image.revision=$revision"
  --annotation "org.opencontainers.image.licenses=Apache-2.0"
  "${annotations[@]}"
)

# The images first (when asked): an app whose images are missing is worse than images
# nobody points at yet.
if [ "$images" = 1 ]; then
  if [ "$build" = 1 ]; then
    step "native images: scripts/build-images.sh"
    run scripts/build-images.sh
  fi
  step "native images: push to $image_prefix"
  if command -v podman >/dev/null 2>&1; then pusher=podman
  elif command -v buildah >/dev/null 2>&1; then pusher=buildah
  else echo "error: --images needs podman or buildah (scripts/build-images.sh installs podman)" >&2; exit 1
  fi
  local_prefix="${IMAGE_PREFIX:-ghcr.io/ticketbuster}"
  tls=()
  [ "$insecure" = 1 ] && tls=(--tls-verify=false)
  for pair in sidecar:ticketbuster-sidecar tb-db:ticketbuster-db; do
    name="${pair%%:*}"
    version=$(cargo pkgid -p "${pair#*:}")
    version="${IMAGE_VERSION:-${version##*@}}"
    local_image="$local_prefix/$name:$version"
    if [ "$dry_run" = 0 ] && ! "$pusher" image exists "$local_image" 2>/dev/null &&
      ! "$pusher" inspect --type image "$local_image" >/dev/null 2>&1; then
      echo "error: no local image $local_image; run scripts/build-images.sh (or drop --no-build)" >&2; exit 1
    fi
    run "$pusher" push "${tls[@]}" "$local_image" "docker://$image_prefix/$name:$version"
  done
fi

if [ "$build" = 1 ]; then
  step "spin build"
  run spin build
fi
step "spin registry push $reference"
run spin registry push "${push_flags[@]}" "$reference"
