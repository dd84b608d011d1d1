#!/usr/bin/env bash
# Set up from scratch (if needed, with the tests' tools and servers) and run every check: ruff, mypy, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
