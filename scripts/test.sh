#!/usr/bin/env bash
# Sets up ./.venv, starts the servers the integration tests talk to, and runs the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k calendar
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
status=0
.venv/bin/python -m pytest "$@" || status=$?
# pytest's 5 means no test was collected: that is a failure here, not a pass
exit "$status"
