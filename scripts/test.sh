#!/usr/bin/env bash
# Set up from scratch (if needed) and run every check: ruff, mypy, the docs, and the tests on
# every Python version pyproject.toml declares (GBATCH_PYTHONS="3.11" for a quicker local run).
set -euo pipefail
cd "$(dirname "$0")/.."
GBATCH_PYTHONS="${GBATCH_PYTHONS:-$(scripts/pythons.sh)}"
export GBATCH_PYTHONS
scripts/setup.sh --tests
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== docs (mkdocs --strict: a broken link or reference fails)"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
primary="$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
echo "== pytest (Python $primary)"
.venv/bin/python -m pytest "$@"
for version in $GBATCH_PYTHONS; do
    [ "$version" = "$primary" ] && continue
    echo "== pytest (Python $version)"
    ".venv-py${version/./}/bin/python" -m pytest "$@"
done
