#!/usr/bin/env bash
# The Python versions the package declares (pyproject.toml's classifiers), or GBATCH_PYTHONS
# when set; `scripts/pythons.sh find X.Y` prints an interpreter of version X.Y, or fails.
# Used by scripts/setup.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

declared() {
    if [ -n "${GBATCH_PYTHONS:-}" ]; then
        echo "$GBATCH_PYTHONS"
        return
    fi
    sed -n 's/^ *"Programming Language :: Python :: \(3\.[0-9][0-9]*\)",$/\1/p' pyproject.toml | tr '\n' ' '
}

find_python() {
    local version="$1" exe
    # pyenv's own folders first: its shims fail for a version that is installed but not active.
    for exe in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python 2>/dev/null | sort -V -r) "$(command -v "python$version" || true)"; do
        if [ -n "$exe" ] && "$exe" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$version'" 2>/dev/null; then
            echo "$exe"
            return
        fi
    done
    echo "no Python $version found (pyproject.toml declares it): install it, or set GBATCH_PYTHONS to the versions to test" >&2
    return 1
}

case "${1:-}" in
    find) find_python "$2" ;;
    *) declared ;;
esac
