#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 (user postgres, trust auth):
# start the local cluster if it is installed but stopped; install it if absent.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if command -v pg_isready >/dev/null && ready; then
  exit 0
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  v=$(ls /etc/postgresql | head -1)
  # Trust local TCP connections for the postgres user (test machine only).
  sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\)\S\+/\1trust/' "/etc/postgresql/$v/main/pg_hba.conf"
fi
v=$(ls /etc/postgresql | head -1)
pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
for _ in $(seq 1 30); do
  ready && exit 0
  sleep 1
done
echo "ensure-postgres: PostgreSQL does not answer on 127.0.0.1:5432" >&2
exit 1
