#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, docs/fuzzing.md) with clang into build-fuzz/ and runs
# each for a bounded time, starting from a scratch copy of its committed seed corpus (so the
# corpus in the tree never changes). Open findings (tests/fuzz/crashes/<harness>-*) are replayed
# first. Every harness runs even when an earlier one fails; the script fails if an open finding
# still reproduces or a run finds a crash, a leak, a timeout, an out-of-memory or a broken
# property, and names the harness and the saved input.
#   SCOPEGATE_FUZZ_SECONDS    seconds per harness (default 60)
#   SCOPEGATE_FUZZ_HARNESSES  which ones (default: all), e.g. "token jsonrpc"
#   SCOPEGATE_BUILD_JOBS      parallel compile jobs (default 2)
# Extra arguments go to every libFuzzer run, e.g. -jobs=2 or -seed=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build fuzz  # the build group, and clang with its libFuzzer and sanitizer runtimes

build_dir=build-fuzz
seconds=${SCOPEGATE_FUZZ_SECONDS:-60}
harnesses=${SCOPEGATE_FUZZ_HARNESSES:-"http_head token jsonrpc config audit plan llm"}
findings=$build_dir/fuzz-findings  # crashing inputs and each run's log; kept after the script ends

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSCOPEGATE_FUZZ=ON -DSCOPEGATE_TESTS=OFF -DSCOPEGATE_BENCH=OFF >/dev/null
targets=()
for h in $harnesses; do targets+=("${h}_fuzz"); done
cmake --build "$build_dir" -j "${SCOPEGATE_BUILD_JOBS:-2}" --target "${targets[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for h in $harnesses; do
  corpus=$scratch/$h
  cp -r "tests/fuzz/corpus/$h" "$corpus"
  mkdir -p "$findings/$h"
  log=$findings/$h.log
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$findings/$h/")
  if [ -f "tests/fuzz/$h.dict" ]; then args+=(-dict="tests/fuzz/$h.dict"); fi
  known=(tests/fuzz/crashes/"$h"-*)
  if [ -e "${known[0]}" ] && ! "$build_dir/tests/fuzz/${h}_fuzz" "${known[@]}" >"$findings/$h.open.log" 2>&1; then
    failed+=("$h")
    echo "fuzz: $h: an open finding still reproduces (${known[*]}); see $findings/$h.open.log" >&2
  fi
  echo "fuzz: $h for ${seconds}s"
  started=$(date +%s)
  if UBSAN_OPTIONS=print_stacktrace=1 "$build_dir/tests/fuzz/${h}_fuzz" "${args[@]}" "$@" "$corpus" >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed "s/^/fuzz: $h: /" || true
    continue
  fi
  [[ " ${failed[*]} " == *" $h "* ]] || failed+=("$h")
  echo "fuzz: $h FAILED after $(($(date +%s) - started))s; the end of its log ($log):" >&2
  grep -E 'ERROR|SUMMARY|property broken|runtime error|threw|^    #[0-9] ' "$log" | head -30 >&2 || tail -30 "$log" >&2
  saved=$(find "$findings/$h" -newermt "@$started" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) 2>/dev/null)
  if [ -n "$saved" ]; then
    echo "fuzz: $h: the input is saved as $saved" >&2
    echo "fuzz: reproduce with: $build_dir/tests/fuzz/${h}_fuzz $saved" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (docs/fuzzing.md says how to minimise an input and keep it as a seed)" >&2
  exit 1
fi
echo "fuzz: every harness ran ${seconds}s without a finding"
