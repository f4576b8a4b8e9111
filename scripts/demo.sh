#!/usr/bin/env bash
# Sets up ./.venv and runs SLA Connector on the bundled sample mailbox (config.example.toml):
# checks the setup, runs one sync cycle, and shows the state and the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SLA_CONNECTOR_CONFIG=config.example.toml
sla=.venv/bin/sla-connector
step() { printf '\n$ sla-connector %s\n' "$*"; "$sla" "$@"; }
step check
step sync --once
step status
step report compliance --from 2026-10-26 --to 2026-11-30 --group-by week --format table
step report credits --month 2026-11 --format table
step report due --within 2d --format table
