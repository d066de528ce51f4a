#!/usr/bin/env bash
# The main job (README): installs what is missing, builds the `rapid` command, fetches the default
# model and runs it. Until `rapid run` lands this inspects the default target model.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${RAPID_JOBS:-$(nproc)}" --target rapid_cli >/dev/null
python3 scripts/fetch_models.py --quiet qwen1.5b
cache="${RAPID_CACHE_DIR:-$HOME/.cache/rapid}"
exec build/examples/rapid inspect --no-tensors "${@:-$cache/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}"
