#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests of the crates, API and race tests
# against real PostgreSQL and Redis, a wasm build of every component, the web app's type
# check, component tests and build, the OpenAPI document's validity, and the end-to-end
# suites (API, schemathesis and headless Chromium) against `spin up` when spin is on PATH
# (it says so when it skips).
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
  -p auth -p catalog -p seat-lock -p health -p qr -p orders -p order-worker -p jobs -p web \
  -p organizer -p checkin -p waiting-room

step "web app: type check, build, component tests"
bash scripts/build-frontend.sh
vitest_report=$(mktemp)
vitest_status=0
(cd frontend && npx vitest run --reporter=default --reporter=json --outputFile="$vitest_report" >&2) ||
  vitest_status=$?
# Every way vitest fails counts: failed tests, test files that failed without a failed test
# (one that does not load), and a non-zero exit with neither (an unhandled error, no test
# files, a crash before the report) as one.
node -e '
  const [file, status] = process.argv.slice(1);
  let r = {};
  try { r = JSON.parse(require("node:fs").readFileSync(file, "utf8")); } catch {}
  const unloaded = (r.testResults ?? []).filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  ).length;
  const failures = (r.numFailedTests ?? 0) + unloaded;
  const failed = failures > 0 || status === "0" ? failures : 1;
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  const why = failed > failures ? ` (vitest exited ${status} without a failed test: see above)` : "";
  console.log(`component tests: ${r.numPassedTests ?? 0} passed, ${failed} failed, ${skipped} skipped${why}`);
' "$vitest_report" "$vitest_status" | tee -a "$results"
rm -f "$vitest_report"

step "OpenAPI document (docs/openapi.yaml): PyYAML and openapi-spec-validator, and broken copies refused"
counted tests/openapi/validate.sh

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
  # The workspace run counted the end-to-end tests as ignored; they have run now.
  ran_ignored=$(cargo test --quiet -p ticketbuster-tests --test e2e_spin --test e2e_spin_restarts \
    -- --ignored --list 2>/dev/null | grep -c ': test$' || true)
else
  echo "SKIPPED end-to-end suite: no usable spin (see above); install Spin 4.1 or later (its canary build; README, Requirements) to run it" >&2
  # The Spin tests are already counted as ignored; the suites that have no count of their
  # own without running (schemathesis, the browser journey) count as one skipped each.
  echo "end-to-end suites without a count: 2 skipped (schemathesis, browser journey)" | tee -a "$results"
fi

passed=$(grep -Eo '[0-9]+ passed' "$results" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$results" | awk '{s += $1} END {print s + 0}')
# Ignored by cargo (the end-to-end tests when spin cannot run them, timings) or skipped by
# vitest and the image builds.
skipped=$(grep -Eo '[0-9]+ (ignored|skipped)' "$results" | awk -v ran="${ran_ignored:-0}" '{s += $1} END {print s - ran}')
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
