#!/usr/bin/env bash
# The main job (README): installs what is missing, builds the `rapid` command, fetches the default
# models and essays into the cache, and runs `rapid demo`: long-context question answering with
# LC and RAPID on Qwen2.5-Coder-1.5B (RAG drafter: Qwen2.5-Coder-0.5B), both answers and the
# measured decode speedup. Extra arguments go to `rapid demo` (e.g. --threads 2, --json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${RAPID_JOBS:-$(nproc)}" --target rapid_cli >/dev/null
python3 scripts/fetch_models.py --quiet qwen1.5b qwen0.5b essays
exec build/examples/rapid demo "$@"
