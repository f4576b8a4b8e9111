#!/usr/bin/env bash
# Sets up ./.venv, installs the servers the integration tests talk to (Dovecot and MariaDB, from
# Debian's packages, when missing) and Chromium for the status page, checks the layers and the
# style, and runs the whole test suite. The tests start their own server instances on 127.0.0.1
# and stop them. Extra arguments go to pytest, e.g. scripts/test.sh -k calendar
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/sbin/dovecot ]; then
    echo "installing dovecot-imapd from Debian's packages (the IMAP tests run a real Dovecot)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends dovecot-imapd >/dev/null
    # the tests start their own instances; a system one started by the package is not needed
    as_root invoke-rc.d dovecot stop >/dev/null 2>&1 || true
fi

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium from Debian's packages (the status page is checked in a headless browser)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends chromium >/dev/null
fi

if [ ! -x /usr/sbin/mariadbd ]; then
    echo "installing mariadb-server from Debian's packages (the osTicket tests run a throwaway MariaDB)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends mariadb-server >/dev/null
    # the tests start their own instances under a temporary directory; the system one is not needed
    as_root invoke-rc.d mariadb stop >/dev/null 2>&1 || true
fi

scripts/setup.sh test
# the layers (pyproject.toml's [tool.importlinter]) and the style checks come first: they take seconds
layers=$(.venv/bin/lint-imports --no-cache 2>&1) || { echo "$layers"; exit 1; }
echo "$layers" | tail -n 1
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
status=0
.venv/bin/python -m pytest "$@" || status=$?
# pytest's 5 means no test was collected: that is a failure here, not a pass
exit "$status"
