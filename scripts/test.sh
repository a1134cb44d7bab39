#!/usr/bin/env bash
# Builds scopegate and runs every test (unit and integration) with CTest.
# Extra arguments go to ctest, e.g. -R integration. SCOPEGATE_BUILD_DIR and SCOPEGATE_CMAKE_ARGS
# select another build, e.g. SCOPEGATE_BUILD_DIR=build-asan SCOPEGATE_CMAKE_ARGS=-DSCOPEGATE_ASAN=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build_dir=${SCOPEGATE_BUILD_DIR:-build}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ctest --test-dir "$build_dir" --output-on-failure -j "${SCOPEGATE_TEST_JOBS:-2}" "$@"
