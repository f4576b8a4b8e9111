#!/usr/bin/env bash
# Sets up ./.venv and runs SLA Connector on the bundled sample mailbox (config.example.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SLA_CONNECTOR_CONFIG=config.example.toml
.venv/bin/sla-connector check
