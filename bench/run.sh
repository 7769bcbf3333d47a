#!/usr/bin/env bash
# didgate's load harness in one command: installs nginx and wrk from Debian's
# packages if missing, builds didgate and the harness in release mode, then
# measures every system and writes the results section of bench/RESULTS.md.
# Options go to `didgate-bench run` (e.g. --duration 5 --reps 1 --soak-secs 0);
# see bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-bench-tools.sh
echo "==> cargo build --release -p didgate -p didgate-bench"
cargo build --release --locked -p didgate -p didgate-bench
exec target/release/didgate-bench run --command-line "bash bench/run.sh${*:+ $*}" "$@"
