#!/usr/bin/env bash
# The seat-status document (GET /api/events/{id}/seat-status) through a running stack:
# its size on the wire, then requests/s and p99 latency with wrk, as a browser first loads
# it (Accept-Encoding: br, gzip: a 200) and as it polls it (If-None-Match with the current
# ETag: a 304). Each mode runs --runs times; the median of the runs is printed last.
#
#   bench/seat-status.sh [--url http://127.0.0.1:3000] [--event 1] [--connections 32]
#                        [--threads 2] [--seconds 10] [--runs 3]
#
# Needs curl and wrk (Debian: apt-get install wrk). Targets (issue 19), for the seeded
# 6,000-seat stadium (event 1): under 4 KB on the wire, at least 10,000 requests/s with
# 32 connections, p99 under 20 ms. The status is cached 1 s, so most requests are
# answered from the key-value store; a status holds stale for at most that long.
set -euo pipefail

url=http://127.0.0.1:3000 event=1 connections=32 threads=2 seconds=10 runs=3
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --url) url=$2; shift 2 ;;
    --event) event=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$event" "$connections" "$threads" "$seconds" "$runs"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "not a positive whole number: $n" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }

status_url="$url/api/events/$event/seat-status"
headers=$(mktemp) body=$(mktemp)
trap 'rm -f "$headers" "$body"' EXIT

# size_of <accept-encoding>: the body's bytes as sent with that Accept-Encoding.
size_of() {
  curl -sS --fail -o "$body" -D "$headers" -H "Accept-Encoding: $1" "$status_url"
  local coding
  coding=$(grep -i '^content-encoding:' "$headers" | tr -d '\r' | awk '{print $2}')
  echo "$(wc -c <"$body") bytes (${coding:-identity})"
}
echo "status of event $event: $(size_of identity) plain, $(size_of 'br, gzip') with br, $(size_of gzip) with gzip" >&2
etag=$(grep -i '^etag:' "$headers" | tr -d '\r' | cut -d' ' -f2-)

# to_ms <wrk latency>: 850.00us, 12.34ms or 1.02s in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# measure <name> <header>...: runs wrk --runs times and prints each run and the medians.
measure() {
  local name=$1; shift
  local rates=() p99s=() out rate p99 non2xx
  local wrk_headers=()
  for h in "$@"; do wrk_headers+=(-H "$h"); done
  for run in $(seq "$runs"); do
    out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "${wrk_headers[@]}" "$status_url")
    rate=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    echo "$name run $run: ${rate} requests/s, p99 ${p99} ms${non2xx:+, $non2xx answers not 2xx/3xx}" >&2
    rates+=("$rate"); p99s+=("$p99")
  done
  printf '%s: median %s requests/s, p99 %s ms (%s connections, %s runs of %s s)\n' "$name" \
    "$(printf '%s\n' "${rates[@]}" | median)" "$(printf '%s\n' "${p99s[@]}" | median)" \
    "$connections" "$runs" "$seconds"
}

measure "load (200, br)" "Accept-Encoding: br, gzip"
measure "poll (304)" "Accept-Encoding: br, gzip" "If-None-Match: $etag"
