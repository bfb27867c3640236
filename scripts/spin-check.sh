#!/usr/bin/env bash
# Defines SPIN_UP_FLAGS (below) and spin_usable: true when a spin on PATH can run
# TicketBuster's components, else it prints why and returns 1. spin-sdk 7 components
# import the final WASI 0.3.0 HTTP interfaces, which Spin implements from 4.1 on (4.0.x
# only knows a release candidate).
spin_usable() {
  if ! command -v spin >/dev/null 2>&1; then
    echo "spin is not on PATH" >&2
    return 1
  fi
  local major minor
  read -r major minor <<<"$(spin --version | sed -E 's/^spin ([0-9]+)\.([0-9]+).*/\1 \2/')"
  if [ "${major:-0}" -lt 4 ] || { [ "$major" -eq 4 ] && [ "${minor:-0}" -lt 1 ]; }; then
    echo "$(spin --version) is too old: TicketBuster needs Spin 4.1 or later" >&2
    return 1
  fi
}

# Flags every `spin up` of ours gets. Spin drops an instance after 1 s without requests.
# An on-sale comes in waves with lulls of seconds, and the burst after a lull then spreads
# over about 25 new instances, each with connections of its own: the next seconds of holds
# ran about 15 % slower (docs/benchmarks.md, "Settings and the measurements behind them"). Instances now outlive lulls of up to 10 s.
#
# Spin also drops a WASIp3 instance after 128 requests, and each new one starts with no
# connections, settings or recent reads of its own. Kept for 1,024 requests, the seat
# status's first loads answered 13 % more per second with a p99 22 % lower (three sets
# each way); kept for 10,000 the p99 was erratic (docs/benchmarks.md, same section).
SPIN_UP_FLAGS=(--idle-instance-timeout 10s --max-instance-reuse-count 1024)
