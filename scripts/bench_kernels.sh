#!/usr/bin/env bash
# Builds bench_kernels (Release, -march=native) and runs it, writing Google Benchmark JSON.
# Usage: scripts/bench_kernels.sh OUT.json [extra Google Benchmark flags, e.g. --benchmark_filter=Q4]
# Env:   BUILD_DIR (default build-bench), MIN_TIME (seconds per benchmark, default 0.2).
# Takes a few minutes on 2 cores. Run it on an otherwise idle machine: the 2-thread results
# need both cores (the JSON "context" records the load average at the start).
set -euo pipefail
out="${1:?usage: scripts/bench_kernels.sh OUT.json [benchmark flags]}"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAPID_BUILD_TESTS=OFF -DRAPID_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j2 --target bench_kernels
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$build/benchmarks/bench_kernels" --benchmark_min_time="${MIN_TIME:-0.2}" \
  --benchmark_out="$out" --benchmark_out_format=json "$@"
