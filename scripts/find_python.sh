# Sourced by the setup scripts. find_python X.Y prints the path of a Python interpreter of
# that minor version (on PATH, under pyenv, or in the usual system places), or nothing.
find_python() {
  local want=$1 cand
  local -a cands=("python$want")
  if command -v pyenv >/dev/null 2>&1; then
    cands+=("$(pyenv root)"/versions/"$want".*/bin/python"$want")
  fi
  cands+=(/usr/bin/python"$want" /usr/local/bin/python"$want")
  for cand in "${cands[@]}"; do
    if "$cand" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" \
        >/dev/null 2>&1; then
      command -v "$cand" 2>/dev/null || printf '%s\n' "$cand"
      return 0
    fi
  done
  return 1
}
