#!/usr/bin/env bash
# Set up from scratch (if needed) and run every check: ruff, mypy, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== docs (mkdocs --strict: a broken link or reference fails)"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
echo "== pytest"
.venv/bin/python -m pytest "$@"
