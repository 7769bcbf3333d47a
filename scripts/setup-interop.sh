#!/usr/bin/env bash
# Install the npm interop peers (did-jwt-vc, did-jwt, …) from interop/package-lock.json.
# Idempotent: does nothing when node_modules is newer than the lock file.
set -euo pipefail
cd "$(dirname "$0")/../interop"
command -v node >/dev/null || { echo "setup-interop: node is required (install Node.js)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup-interop: npm is required (install Node.js)" >&2; exit 1; }
stamp=node_modules/.didgate-installed
if [[ -f $stamp && $stamp -nt package-lock.json ]]; then
  exit 0
fi
# Serialize concurrent test processes.
exec 9>.install.lock
flock 9
if [[ -f $stamp && $stamp -nt package-lock.json ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
touch "$stamp"
