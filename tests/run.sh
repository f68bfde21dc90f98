#!/usr/bin/env bash
# The README's test command: set-up, the unit tests, then every notebook in book/ executed in
# the `ci` profile (papermill executes and keeps the copy; nbval validates checked outputs).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/env.sh
start=$SECONDS
python -m pytest tests -q -p no:cacheprovider
echo "unit tests: $((SECONDS - start)) s"
