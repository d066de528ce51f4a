#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, fetches the real models into the
# cache, generates oracle reference data, builds, and runs the whole suite twice: Release, then the
# robustness suite under AddressSanitizer + UndefinedBehaviorSanitizer. Safe to re-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${RAPID_JOBS:-$(nproc)}"

scripts/install_deps.sh
python3 scripts/fetch_models.py --quiet all
PY="$(scripts/python_env.sh)"
for ref in scripts/reference_*.py; do        # oracle outputs, cached under $RAPID_CACHE_DIR/reference
  echo "== $ref" >&2
  "$PY" "$ref"
done

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
RAPID_REQUIRE_MODELS=1 ctest --test-dir build --output-on-failure

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRAPID_SANITIZE=ON \
      -DRAPID_BUILD_BENCHMARKS=OFF -DRAPID_BUILD_EXAMPLES=ON >/dev/null
cmake --build build-asan -j"$jobs"
RAPID_REQUIRE_MODELS=1 ctest --test-dir build-asan --output-on-failure
