#!/usr/bin/env bash
# Creates (once) the virtual environment holding the test oracles and prints its python.
# Usage: PY=$(scripts/python_env.sh)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RAPID_CACHE_DIR:-$HOME/.cache/rapid}"
venv="$cache/venv"
req="$here/requirements-oracles.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  # No AMX in the llama.cpp oracle (see requirements-oracles.txt); CMake takes these from the
  # environment, and no cached wheel built with other flags may be reused.
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CFLAGS="$no_amx" CXXFLAGS="$no_amx" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-cache-dir -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
