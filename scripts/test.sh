#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests of the crates, API and race tests
# against real PostgreSQL and Redis, a wasm build of every component, the web app's type
# check, component tests and build, and the end-to-end suites (API and headless Chromium)
# against `spin up` when spin is on PATH (it says so when it skips).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
# Keeps cargo test's output and its summary lines, for the closing count.
counted() { "$@" 2>&1 | tee -a "$results"; }

step "toolchain"
rustup target list --installed 2>/dev/null | grep -q wasm32-wasip2 || rustup target add wasm32-wasip2

step "PostgreSQL and Redis"
. scripts/services.sh
# Databases left by earlier runs of the API tests.
psql -h 127.0.0.1 -U postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'tb_test_%'" |
  while read -r db; do [ -n "$db" ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$db\"" || true; done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "wasm build of every component"
cargo build --quiet --release --target wasm32-wasip2 \
  -p auth -p catalog -p seat-lock -p health -p qr -p orders -p order-worker -p jobs -p web

step "web app: type check, build, component tests"
bash scripts/build-frontend.sh
vitest_report=$(mktemp)
(cd frontend && npx vitest run --reporter=default --reporter=json --outputFile="$vitest_report" >&2) || true
node -e 'const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")); console.log(`component tests: ${r.numPassedTests} passed, ${r.numFailedTests + r.numFailedTestSuites} failed`)' \
  "$vitest_report" | tee -a "$results"
rm -f "$vitest_report"

step "Kubernetes manifests (deploy/kubernetes): kustomize, Kubernetes and SpinKube schemas, agreement with spin.toml"
counted scripts/check-deploy.sh

step "OpenID Connect provider for the OIDC tests (tests/oidc: oidc-provider)"
(cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error >&2)

step "unit, API and race tests (real PostgreSQL and Redis)"
counted cargo test --workspace --quiet

step "native images: static musl binaries, FROM scratch images, smoke tests"
counted scripts/build-images.sh

step "end-to-end suite against spin up"
. scripts/spin-check.sh
if spin_usable; then
  counted scripts/e2e.sh
else
  echo "SKIPPED end-to-end suite: no usable spin (see above); install Spin 4.1 or later (its canary build; README, Requirements) to run it" >&2
fi

passed=$(grep -Eo '[0-9]+ passed' "$results" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$results" | awk '{s += $1} END {print s + 0}')
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
