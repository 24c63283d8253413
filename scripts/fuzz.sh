#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, ASan + UBSan, no LibTorch)
# and runs each for SECONDS (default 60) or RUNS executions, whichever ends
# first, one at a time (-jobs=1: one fuzzing process; the box is shared).
#
#   scripts/fuzz.sh [SECONDS] [target ...]     targets: fuzz/targets.h
#   RUNS=1000000 scripts/fuzz.sh 900 pickle
#
# The seeds in fuzz/corpus/<target>/ are read, never written; what the
# fuzzer adds goes to build-fuzz/work/<target>/, findings (crash-*, leak-*,
# timeout-*, oom-*) to build-fuzz/findings/<target>/. Copy a finding into
# fuzz/corpus/<target>/ once it is fixed: test_fuzz_parsers replays it in
# every test run. Prints, per target: executions, seconds, findings.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
all=(pickle idx cifar_binary list_file image yaml_config checkpoint)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build="${FUZZ_BUILD_DIR:-build-fuzz}"
runs="${RUNS:--1}"

cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLTCL_FUZZ_LIBFUZZER=ON >/dev/null
ninja -j1 -C "$build" $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

max_len() {
  case "$1" in
    pickle | image) echo 16384 ;;
    cifar_binary | checkpoint) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

printf '%-13s %12s %8s %9s  %s\n' target executions seconds findings log
for t in "${targets[@]}"; do
  work="$build/work/$t"
  findings="$build/findings/$t"
  logdir="$build/logs/$t"
  mkdir -p "$work" "$findings" "$logdir"
  rm -f "$logdir"/fuzz-*.log
  start=$(date +%s)
  # -jobs=1 runs one child that writes fuzz-0.log; a finding ends that job
  # (a re-run continues from the work corpus).
  (cd "$logdir" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$OLDPWD/$build/fuzz_$t" -jobs=1 -workers=1 \
    -max_total_time="$seconds" -runs="$runs" -max_len="$(max_len "$t")" \
    -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$OLDPWD/$findings/" \
    "$OLDPWD/$work" "$OLDPWD/fuzz/corpus/$t" >/dev/null 2>&1) || true
  end=$(date +%s)
  log="$logdir/fuzz-0.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" 2>/dev/null |
    tail -1 | grep -o '[0-9]*$' || true)
  if [ -z "$execs" ]; then  # ended by a finding: the last status line
    execs=$(grep -o '^#[0-9]*' "$log" 2>/dev/null | tail -1 | tr -d '#' || true)
  fi
  n=$(find "$findings" -type f | wc -l)
  printf '%-13s %12s %8s %9s  %s\n' "$t" "${execs:-?}" "$((end - start))" \
    "$n" "$log"
done
