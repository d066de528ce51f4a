#!/usr/bin/env bash
# Installs the Debian packages rapid builds and tests with. Idempotent and quiet when all are present.
set -euo pipefail
packages=(
  cmake make g++ git                      # toolchain
  libeigen3-dev libxsimd-dev xtl-dev      # SIMD and linear algebra (xsimd's CMake target needs xtl)
  nlohmann-json3-dev libcli11-dev         # safetensors header JSON, command-line parsing
  doctest-dev libbenchmark-dev            # tests and benchmarks
  python3 python3-venv python3-pip        # fetch script and test oracles (gguf-py, numpy) in a venv
  python3-matplotlib                      # scripts/plot_results.py (PNG plots of eval results)
  bible-kjv                               # public-domain long text for corpora
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
