#!/usr/bin/env bash
# Rewrite requirements/app.lock from pyproject.toml in a fresh throwaway environment.
# requirements/rasa.lock changes only with the Rasa version: rasa==3.6.21 plus jieba.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3.11 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --upgrade pip
"$tmp/venv/bin/pip" install --quiet ".[dev]"
"$tmp/venv/bin/pip" freeze --all --exclude-editable \
  | grep -v -e '^pip==' -e '^liangwang-assist' >requirements/app.lock
echo "requirements/app.lock updated"
