#!/usr/bin/env bash
# Installs what the build needs (scripts/setup.sh), then configures and builds into build/.
#   SCOPEGATE_TARGET=scopegate   build only the gateway binary: setup installs only its build group,
#                                and CMake configures without the tests and benchmarks (neither
#                                doctest nor Google Benchmark is needed). scripts/demo.sh does this.
#   (unset)                      everything: the gateway, the tests and the micro-benchmarks.
# Extra arguments (and SCOPEGATE_CMAKE_ARGS) go to CMake after these, e.g. -DSCOPEGATE_ASAN=ON;
# SCOPEGATE_BUILD_DIR picks the build directory (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${SCOPEGATE_TARGET:-}
if [ "$target" = scopegate ]; then
  bash scripts/setup.sh build
  # Said every time, not left to the CMake cache: one build directory serves the demo and the tests.
  parts=(-DSCOPEGATE_TESTS=OFF -DSCOPEGATE_BENCH=OFF)
  build_args=(--target scopegate)
else
  bash scripts/setup.sh
  parts=(-DSCOPEGATE_TESTS=ON -DSCOPEGATE_BENCH=ON)
  build_args=()
  if [ -n "$target" ]; then build_args=(--target "$target"); fi
fi
build_dir=${SCOPEGATE_BUILD_DIR:-build}
# shellcheck disable=SC2086  # SCOPEGATE_CMAKE_ARGS is a list of words
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} "${parts[@]}" \
  ${SCOPEGATE_CMAKE_ARGS:-} "$@" >/dev/null
cmake --build "$build_dir" "${build_args[@]}"
