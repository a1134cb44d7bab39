#!/usr/bin/env bash
# Installs what the build needs (scripts/setup.sh), then configures and builds into build/.
# Extra arguments (and SCOPEGATE_CMAKE_ARGS) go to CMake, e.g. -DSCOPEGATE_ASAN=ON;
# SCOPEGATE_BUILD_DIR picks the build directory (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir=${SCOPEGATE_BUILD_DIR:-build}
# shellcheck disable=SC2086  # SCOPEGATE_CMAKE_ARGS is a list of words
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  ${SCOPEGATE_CMAKE_ARGS:-} "$@" >/dev/null
cmake --build "$build_dir"
