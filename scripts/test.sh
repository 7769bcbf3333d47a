#!/usr/bin/env bash
# didgate's test command (README, CI): installs what the tests need, then runs
# every test in the workspace. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> interop peers (npm ci in interop/)"
bash scripts/setup-interop.sh

echo "==> chromium (Debian) for the browser login test"
bash scripts/install-browser.sh

echo "==> anvil (npm @foundry-rs/anvil-linux-amd64) for the did:ethr tests"
bash scripts/install-anvil.sh >/dev/null

echo "==> nginx and wrk (Debian) for the load harness's smoke test"
bash scripts/install-bench-tools.sh

echo "==> PostgreSQL on 127.0.0.1:5432"
bash scripts/ensure-postgres.sh

command -v curl >/dev/null || {
  echo "==> installing curl (the demo test runs the commands the demo prints)"
  apt-get install -y -qq curl >/dev/null
}

echo "==> cargo test --workspace"
cargo test --workspace --all-targets --locked
