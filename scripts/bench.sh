#!/usr/bin/env bash
# Prints the throughput figures quoted in the README (criterion's estimates).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench pipeline -- --noplot 2>/dev/null | grep -E "^(parser|pipeline|generator)/|thrpt:" | sed 's/^ *//'
