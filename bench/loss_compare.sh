#!/usr/bin/env bash
# Contrastive core (BCL + RCL, B=256 V=2 D=128 C=100 + prototypes), forward +
# backward: ltcl's C++ vs the same formula in plain PyTorch, one run.
#   bench/loss_compare.sh [build-dir]     (needs -DLTCL_BUILD_BENCH=ON)
# Prints wall and CPU ms/iteration of each (CPU time is the steadier figure
# on a loaded machine), the ratio, and each process's peak RSS
# (/usr/bin/time -v "Maximum resident set size"; the Python figure includes
# the interpreter and torch import). LTCL_BENCH_THREADS (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export LTCL_BENCH_THREADS=${LTCL_BENCH_THREADS:-1}
bin="$BUILD/contrastive_loss"
[[ -x "$bin" ]] || { echo "missing $bin (configure with -DLTCL_BUILD_BENCH=ON)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/time -v "$bin" --benchmark_min_time=2 --benchmark_format=json \
  >"$tmp/cpp.json" 2>"$tmp/cpp.time"
/usr/bin/time -v /usr/bin/python3 bench/contrastive_loss_torch.py 50 \
  >"$tmp/py.txt" 2>"$tmp/py.time"

cpp_ms=$(/usr/bin/python3 -c "import json,sys; b=json.load(open(sys.argv[1]))['benchmarks'][0]; print(round(b['real_time'], 3))" "$tmp/cpp.json")
cpp_cpu=$(/usr/bin/python3 -c "import json,sys; b=json.load(open(sys.argv[1]))['benchmarks'][0]; print(round(b['cpu_time'], 3))" "$tmp/cpp.json")
py_ms=$(awk '/python_ms_per_iter/ {print $2}' "$tmp/py.txt")
py_cpu=$(awk '/python_cpu_ms_per_iter/ {print $2}' "$tmp/py.txt")
cpp_rss=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$tmp/cpp.time")
py_rss=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$tmp/py.time")
echo "threads            ${LTCL_BENCH_THREADS}"
echo "ltcl C++  wall ms/iter ${cpp_ms}  cpu ms/iter ${cpp_cpu}  peak RSS ${cpp_rss} KiB"
echo "PyTorch   wall ms/iter ${py_ms}  cpu ms/iter ${py_cpu}  peak RSS ${py_rss} KiB"
/usr/bin/python3 -c "import sys; a=[float(x) for x in sys.argv[1:]]; print(f'ratio python/ltcl wall {a[2]/a[0]:.2f}  cpu {a[3]/a[1]:.2f}')" "$cpp_ms" "$cpp_cpu" "$py_ms" "$py_cpu"
