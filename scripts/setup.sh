#!/usr/bin/env bash
# Set up from scratch, safe to run again:
#   scripts/setup.sh          what the demo and everyday use need: ffmpeg and espeak-ng (the
#                             CosyVoice stand-in), and .venv with gbatch and its demo extra
#   scripts/setup.sh --tests  also the tests' tools (pytest, ruff, mypy, mkdocs, ...), chromium
#                             and a CJK font (the review page's browser tests), a venv per other
#                             Python in GBATCH_PYTHONS, and venvs with gradio 3.41.2 and 4.44.1
#                             for the older test servers
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=0
case "${1:-}" in
    --tests) TESTS=1 ;;
    "") ;;
    *) echo "usage: scripts/setup.sh [--tests]" >&2; exit 2 ;;
esac

# Debian packages: ffmpeg/ffprobe (the CosyVoice stand-in's streaming audio), espeak-ng (the
# stand-in speaks the text); for the tests, chromium and a CJK font (the review page's browser tests).
need=""
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need="$need ffmpeg"
command -v espeak-ng >/dev/null 2>&1 || need="$need espeak-ng"
if [ "$TESTS" = "1" ] && [ "${GBATCH_BROWSER_TESTS:-1}" = "1" ]; then
    command -v chromium >/dev/null 2>&1 || need="$need chromium"
    fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || need="$need fonts-wqy-zenhei"
fi
if [ -n "$need" ]; then
    echo "== installing Debian packages:$need"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# The demo needs gbatch and its demo extra; the tests also the dev group (--group needs
# pip >= 25.1; it brings gradio for the test servers, pytest, ruff, mypy, mkdocs).
extras=(-e ".[demo,xlsx]")
if [ "$TESTS" = "1" ]; then extras+=(--group dev); fi
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "== installing gbatch and its dependencies into .venv"
.venv/bin/python -m pip install -q --upgrade "pip>=25.1" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q "${extras[@]}" 2>&1 | grep -v "is ignored" || true
.venv/bin/gbatch --help >/dev/null

if [ "$TESTS" = "1" ]; then
    # The suite runs on every declared Python (scripts/test.sh): a venv per other version named
    # in GBATCH_PYTHONS (test.sh names every one pyproject.toml declares), e.g. .venv-py310.
    primary="$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    for version in ${GBATCH_PYTHONS:-}; do
        [ "$version" = "$primary" ] && continue
        venv=".venv-py${version/./}"
        if [ ! -x "$venv/bin/python" ]; then
            exe="$(scripts/pythons.sh find "$version")"
            echo "== creating $venv (Python $version)"
            "$exe" -m venv "$venv"
        fi
        echo "== installing gbatch and its dependencies into $venv"
        "$venv/bin/python" -m pip install -q --upgrade "pip>=25.1" 2>&1 | grep -v "is ignored" || true
        "$venv/bin/python" -m pip install -q "${extras[@]}" 2>&1 | grep -v "is ignored" || true
        "$venv/bin/gbatch" --help >/dev/null
    done

    # Servers of older Gradio versions for the tests, each in a venv of its own: they cannot
    # share one with gradio 6. The freezes are complete, so --no-deps (pip's resolver rejects
    # these sets although they run; tests/envs/README.md says why).
    for pair in "gradio3:tests/envs/gradio-3.41.2.txt" "gradio4:tests/envs/gradio-4.44.1.txt"; do
        name="${pair%%:*}"; freeze="${pair#*:}"
        stamp=".venvs/$name/.installed-$(sha256sum "$freeze" | cut -c1-16)"
        if [ ! -e "$stamp" ]; then
            echo "== building .venvs/$name from $freeze"
            rm -rf ".venvs/$name"
            "$PYTHON" -m venv ".venvs/$name"
            ".venvs/$name/bin/python" -m pip install -q --no-deps -r "$freeze" 2>&1 | grep -v "is ignored" || true
            ".venvs/$name/bin/python" -c "import gradio" && touch "$stamp"
        fi
    done
fi
echo "== ready: .venv/bin/gbatch (or: source .venv/bin/activate, then gbatch)"
