#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the quick
# (`unit`) tests. Slow tests: ctest --test-dir build -L slow.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
# Each test process uses 1 intra-op thread (the seeding fixture sets it);
# run two at a time on the two cores.
ctest --test-dir "${BUILD_DIR:-build}" -L unit --output-on-failure \
  -j "$(nproc)" --timeout 600
