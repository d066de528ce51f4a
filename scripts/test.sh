#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, fetches the real models into the
# cache, builds, generates oracle reference data, and runs the whole suite twice: Release, then the
# robustness suite under AddressSanitizer + UndefinedBehaviorSanitizer. Safe to re-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${RAPID_JOBS:-$(nproc)}"

scripts/install_deps.sh
python3 scripts/fetch_models.py --quiet all
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"

# Oracle outputs, cached under $RAPID_CACHE_DIR/reference; after the build, since
# reference_rope.py runs llama.cpp on fixtures written by build/tests/rapid_rope_fixtures.
PY="$(scripts/python_env.sh)"
for ref in scripts/reference_*.py; do
  echo "== $ref" >&2
  RAPID_BUILD_DIR="$PWD/build" "$PY" "$ref"
done
RAPID_REQUIRE_MODELS=1 ctest --test-dir build --output-on-failure

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRAPID_SANITIZE=ON \
      -DRAPID_BUILD_BENCHMARKS=OFF -DRAPID_BUILD_EXAMPLES=ON >/dev/null
cmake --build build-asan -j"$jobs"
RAPID_REQUIRE_MODELS=1 ctest --test-dir build-asan --output-on-failure
