#!/usr/bin/env bash
# Headless Chromium (Debian's `chromium` package, at /usr/bin/chromium) for the
# browser login test (gateway/tests/browser.rs drives it with the npm
# playwright-core pinned in interop/). Nothing is downloaded from anywhere but
# Debian's package archive. Idempotent: does nothing when /usr/bin/chromium runs.
# Fails loudly, with what to do, when it cannot install it.
set -euo pipefail
bin=/usr/bin/chromium

works() {
  [[ -x $bin ]] && "$bin" --headless --no-sandbox --version >/dev/null 2>&1
}

works && exit 0

fail() {
  echo "install-browser: $*" >&2
  echo "install-browser: the browser login test needs Debian's chromium at $bin" \
    "(as root: apt-get update && apt-get install chromium)" >&2
  exit 1
}

command -v apt-get >/dev/null || fail "apt-get is not available on this machine"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || fail "not root and no sudo to run apt-get with"
  SUDO=sudo
fi

# Serialize concurrent callers (test processes, other checkouts on this
# machine): apt and dpkg take one installer at a time.
exec 9>"${TMPDIR:-/tmp}/didgate-install-browser.lock"
flock 9
works && exit 0

echo "==> installing chromium (Debian package) for the browser login test" >&2
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium >/dev/null
}
# The package lists are refreshed only when they lack chromium or the
# install fails with them (stale lists: a version no longer on the mirror).
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=300 || fail "apt-get update failed"
fi
if ! apt_install; then
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=300 || fail "apt-get update failed"
  apt_install || fail "apt-get install chromium failed"
fi
works || fail "$bin is installed but does not run ($bin --version failed)"
echo "==> $("$bin" --version 2>/dev/null)" >&2
