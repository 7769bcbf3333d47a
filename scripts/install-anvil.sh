#!/usr/bin/env bash
# Install anvil (Foundry's local Ethereum node, for the did:ethr / ERC-1056 tests) from the
# npm package pinned in test-support/anvil/package-lock.json, and print the absolute path of
# the anvil binary on stdout (all other output goes to stderr).
# Idempotent: does nothing but print the path when node_modules is newer than the lock file.
set -euo pipefail
cd "$(dirname "$0")/../test-support/anvil"
command -v node >/dev/null || { echo "install-anvil: node is required (install Node.js)" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-anvil: npm is required (install Node.js)" >&2; exit 1; }
if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "install-anvil: the pinned anvil package is for Linux x86_64 only (this is $(uname -s) $(uname -m))" >&2
  exit 1
fi
bin=$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
stamp=node_modules/.didgate-installed
if [[ ! -f $stamp || ! $stamp -nt package-lock.json ]]; then
  # Serialize concurrent test processes.
  exec 9>.install.lock
  flock 9
  if [[ ! -f $stamp || ! $stamp -nt package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
    "$bin" --version >/dev/null || { echo "install-anvil: $bin does not run" >&2; exit 1; }
    touch "$stamp"
  fi
  exec 9>&-
fi
echo "$bin"
