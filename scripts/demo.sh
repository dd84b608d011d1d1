#!/usr/bin/env bash
# The main job, end to end, on the built-in CosyVoice stand-in server:
# set up, start the stand-in (it speaks with espeak-ng), speak examples/audiobook.csv
# (two chapters, Chinese and English) with the prompt voice in examples/voices/,
# join each chapter with subtitles, show the results and the review page, stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

PORT="${PORT:-8000}"
OUT="${OUT:-demo-out}"
LOG="$OUT/demo-server.log"
mkdir -p "$OUT"
# -- take checking: a SenseVoice stand-in hears each take (docs/checks.md) -----------------
# It is not a recogniser: the CosyVoice stand-in records what each take said into a shared
# folder, and garbles the first take of one line on purpose, so a caught take is visible.
# This shows the mechanism, not recognition quality. CHECK=0 leaves it out.
CHECK_ARGS=()
if [ "${CHECK:-1}" = 1 ]; then
    ASR_PORT="${ASR_PORT:-8001}"
    export GBATCH_DEMO_SAID_DIR="$OUT/.demo-said" GBATCH_DEMO_GARBLE="windows sang"
    rm -rf "$GBATCH_DEMO_SAID_DIR"
    echo "== starting the SenseVoice stand-in on 127.0.0.1:$ASR_PORT (not a recogniser; log: $OUT/demo-asr.log)"
    .venv/bin/gbatch-asr-demo --port "$ASR_PORT" >"$OUT/demo-asr.log" 2>&1 &
    ASR=$!
    trap 'kill $ASR 2>/dev/null || true' EXIT
    for _ in $(seq 1 120); do
        if .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$ASR_PORT/gradio_api/info', timeout=2)" 2>/dev/null; then break; fi
        sleep 0.5
    done
    CHECK_ARGS=(--check-server "http://127.0.0.1:$ASR_PORT")
fi
# -----------------------------------------------------------------------------------------
echo "== starting the CosyVoice stand-in on 127.0.0.1:$PORT (espeak-ng speech, not CosyVoice; log: $LOG)"
.venv/bin/gbatch-cosyvoice-demo --port "$PORT" --delay 0.3 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER ${ASR:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    if .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/gradio_api/info', timeout=2)" 2>/dev/null; then break; fi
    if ! kill -0 $SERVER 2>/dev/null; then cat "$LOG"; exit 1; fi
    sleep 0.5
done

echo "== gbatch cosyvoice examples/audiobook.csv"
set +e
.venv/bin/gbatch cosyvoice examples/audiobook.csv \
    --server "http://127.0.0.1:$PORT" \
    --prompt-audio examples/voices/narrator.wav \
    --prompt-text "$(cat examples/voices/narrator.txt)" \
    --join chapter --gap 0.6 --out "$OUT" "${CHECK_ARGS[@]}" "$@"
status=$?
set -e

echo
echo "== output folder: $OUT/"
ls -l "$OUT" "$OUT/joined"
echo
echo "== first subtitles of chapter 1 ($OUT/joined/ch01.srt)"
head -n 8 "$OUT/joined/ch01.srt"
# The journal is append-only: a row's first line is written when its take is made,
# a later one when the recogniser has checked it; the last line of a row is what holds.
echo "== journal, the last record of the first row ($OUT/gbatch-journal.jsonl)"
grep '"id": "ch01-001"' "$OUT/gbatch-journal.jsonl" | tail -n 1
echo
echo "== run it again: every row is already done, nothing is sent (its summary line)"
again=$(.venv/bin/gbatch cosyvoice examples/audiobook.csv --server "http://127.0.0.1:$PORT" \
    --prompt-audio examples/voices/narrator.wav --prompt-text "$(cat examples/voices/narrator.txt)" \
    --join chapter --gap 0.6 --out "$OUT" --quiet "$@" 2>&1)
echo "${again%%$'\n'*}"
echo
echo "== listen and look: open $OUT/review.html in a browser (or: .venv/bin/gbatch review $OUT --serve)"
echo "   To make new takes: start the stand-in again (.venv/bin/gbatch-cosyvoice-demo --port $PORT &),"
echo "   mark the takes in the review page, then run the --redo command printed above."
exit $status
