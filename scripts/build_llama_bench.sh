#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-perplexity, the speed and perplexity reference for
# benchmarks/, and prints llama-bench's path (llama-perplexity sits beside it).
#
# The sources are the llama.cpp vendored in the llama-cpp-python sdist pinned in
# scripts/requirements-oracles.txt (the same llama.cpp the reference logits come from), fetched by
# name from PyPI and built in a scratch folder under the cache, never in the repository:
#   $RAPID_CACHE_DIR/llama.cpp/<version>/{src,build}    ($RAPID_CACHE_DIR defaults to ~/.cache/rapid)
# CPU backend only, -march=native (GGML_NATIVE) without AMX (as requirements-oracles.txt: llama.cpp's
# AMX path computed wrong logits for Q4_1 on a Sapphire Rapids VM), static, Release; about 3
# minutes on 2 cores.
# Re-running is free once built. Needs python3 with pip, cmake and a C++17 compiler.
#
# usage: LLAMA_BENCH=$(scripts/build_llama_bench.sh)
#        "$LLAMA_BENCH" -m ~/.cache/rapid/models/smollm2-135m-instruct-q4_1.gguf -t 2 -p 512 -n 64
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's/^llama-cpp-python==\([0-9.]*\).*/\1/p' "$here/requirements-oracles.txt")"
[[ -n "$version" ]] || { echo "no llama-cpp-python pin in $here/requirements-oracles.txt" >&2; exit 1; }
root="${RAPID_CACHE_DIR:-$HOME/.cache/rapid}/llama.cpp/$version-noamx"
bin="$root/build/bin"
if [[ -x "$bin/llama-bench" && -x "$bin/llama-perplexity" ]]; then
  echo "$bin/llama-bench"
  exit 0
fi

mkdir -p "$root"
if [[ ! -f "$root/src/CMakeLists.txt" ]]; then
  scratch="$(mktemp -d "$root/download.XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
  echo "fetching the llama-cpp-python $version sdist" >&2
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    --dest "$scratch" "llama-cpp-python==$version" >&2
  tar -xzf "$scratch/llama_cpp_python-$version.tar.gz" -C "$scratch"
  rm -rf "$root/src"
  mv "$scratch/llama_cpp_python-$version/vendor/llama.cpp" "$root/src"
fi

echo "building llama-bench and llama-perplexity in $root/build" >&2
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$root/src" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=ON "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON >&2
cmake --build "$root/build" --target llama-bench llama-perplexity -j"${RAPID_JOBS:-2}" >&2
echo "$bin/llama-bench"
