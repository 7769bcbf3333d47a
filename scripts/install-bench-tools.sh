#!/usr/bin/env bash
# nginx (the comparison), wrk (the load generator) and taskset (pinning), from
# Debian's packages, for the load harness (bench/run.sh) and its smoke test.
set -euo pipefail
need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0
echo "==> installing ${need[*]} (Debian packages)"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
}
# The package starts a system nginx on port 80; the harness runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  $SUDO systemctl stop nginx || true
fi
