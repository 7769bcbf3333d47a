#!/usr/bin/env bash
# Install the npm interop peers (did-jwt-vc, did-jwt, …) from interop/package-lock.json.
# Idempotent: does nothing when node_modules is newer than the lock file.
#
# `setup-interop.sh aics-tlog` installs instead the one Python peer: the
# transparency-log verifier aics-tlog (audit/tests/tlog_aics.rs), pinned, in a
# venv under target/ (it needs Python >= 3.12), and prints the venv's python.
set -euo pipefail
AICS_TLOG_VERSION=0.2.1
if [[ ${1:-} == aics-tlog ]]; then
  cd "$(dirname "$0")/.."
  venv=target/aics-tlog-venv
  stamp=$venv/.installed-$AICS_TLOG_VERSION
  if [[ ! -f $stamp ]]; then
    mkdir -p target
    exec 9>target/.aics-tlog.lock
    flock 9
  fi
  if [[ ! -f $stamp ]]; then
    py=
    for c in python3.13 python3.12 python3 "$(pyenv root 2>/dev/null)"/versions/3.1[2-9]*/bin/python3; do
      if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        py=$c; break
      fi
    done
    [[ -n $py ]] || { echo "setup-interop: aics-tlog needs Python >= 3.12 (none found; e.g. pyenv install 3.12)" >&2; exit 1; }
    rm -rf "$venv"
    "$py" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aics-tlog==$AICS_TLOG_VERSION" >&2
    touch "$stamp"
  fi
  echo "$PWD/$venv/bin/python"
  exit 0
fi
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
