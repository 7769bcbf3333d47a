#!/usr/bin/env bash
# Rebuild the on-chain registries (did-registry/contracts/*.sol) with the pinned solc and
# check that the committed artifacts (did-registry/contracts/artifacts/*.json) are exactly
# what the sources compile to. Exits non-zero, with the diff, when they differ.
# Installs solc from did-registry/contracts/package-lock.json first (idempotent, like
# scripts/setup-interop.sh: nothing to do when node_modules is newer than the lock file).
set -euo pipefail
cd "$(dirname "$0")/../did-registry/contracts"
command -v node >/dev/null || { echo "check-contract-artifact: node is required (install Node.js)" >&2; exit 1; }
command -v npm >/dev/null || { echo "check-contract-artifact: npm is required (install Node.js)" >&2; exit 1; }

stamp=node_modules/.didgate-installed
if [[ ! -f $stamp || ! $stamp -nt package-lock.json ]]; then
  # Serialize concurrent callers.
  exec 9>.install.lock
  flock 9
  if [[ ! -f $stamp || ! $stamp -nt package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
  exec 9>&-
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
node compile.mjs "$out" >/dev/null

if ! diff -ru artifacts "$out"; then
  echo >&2
  echo "check-contract-artifact: did-registry/contracts/artifacts/ is out of date with the .sol sources." >&2
  echo "Regenerate it with: (cd did-registry/contracts && npm ci && node compile.mjs) and commit the result." >&2
  exit 1
fi
echo "check-contract-artifact: artifacts match the sources ($(node -p 'require("./node_modules/solc/package.json").version'))"
