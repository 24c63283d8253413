#!/usr/bin/env bash
# The GPU check, one command sized for a ~15-minute device window:
#   1. unpack the carried Debian packages (.device/debs, from
#      scripts/device_debs.sh) with dpkg -x: the GPU machine has CUDA, CMake,
#      ninja and pip's torch, but no package registry;
#   2. build ltcl and its tests against the machine's torch (CUDA);
#   3. run the unit tests (TESTS=0 skips them);
#   4. time CIFAR-10-LT BCL+RCL steps (`ltcl bench train`), train as many
#      epochs as the rest of BUDGET_S allows, and print views/s, the
#      projected 200-epoch time and top-1.
#
#   scripts/device_check.sh                     # on the GPU machine
#   DEVICE=cpu BUDGET_S=240 TESTS=0 BENCH_STEPS=3 BENCH_WARMUP=1 \
#     EXTRA=train.max_steps_per_epoch=5 scripts/device_check.sh   # CPU path
#
# Environment: DEVICE (cuda), BUDGET_S (600: seconds for the whole check),
# DATA (../shared/datasets/cifar10-jpeg: CIFAR-10 as JPEG class folders;
# data.dataset / data.root may also point at CIFAR's binary files with
# DATASET=cifar10), PYTHON (python3 with torch), BUILD_DIR (build-device),
# JOBS, TESTS (1), EXTRA (more --set key=value pairs, e.g.
# train.max_steps_per_epoch=5 for a quick CPU run), BENCH_STEPS (20),
# BENCH_WARMUP (5) and DEVICE_AUGMENT (1 on cuda, 0 on cpu: data.device_augment,
# the views augmented on the GPU; with 1 the loader's rate is benched too).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-600}
DATA=${DATA:-../shared/datasets/cifar10-jpeg}
DATASET=${DATASET:-folder}
PYTHON=${PYTHON:-python3}
BUILD_DIR=${BUILD_DIR:-build-device}
JOBS=${JOBS:-$(nproc)}
TESTS=${TESTS:-1}
EXTRA=${EXTRA:-}
say() { printf '[device_check %4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# 1. The carried packages.
prefixes=()
if compgen -G ".device/debs/*.deb" >/dev/null; then
  root="$PWD/.device/root"
  mkdir -p "$root"
  for deb in .device/debs/*.deb; do dpkg -x "$deb" "$root"; done
  arch_lib="$root/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
  # libblas.so.3 / liblapack.so.3 live in alternatives folders that no
  # postinst links here (dpkg -x runs none).
  for alt in "$arch_lib"/openblas*; do
    [[ -d "$alt" ]] && arch_lib="$arch_lib:$alt"
  done
  prefixes+=("$root/usr")
  export CPATH="$root/usr/include:$root/usr/include/opencv4${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$arch_lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "unpacked $(ls .device/debs/*.deb | wc -l) packages into $root"
fi

# 2. Build against this machine's torch.
torch_dir=$("$PYTHON" -c "import os, torch; print(os.path.dirname(torch.__file__))")
say "$("$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPUs', torch.cuda.device_count())")"
prefix_path="$torch_dir"
for p in "${prefixes[@]}"; do prefix_path="$prefix_path;$p"; done
cuda_args=()
if nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null); then
  cuda_args=(-DCMAKE_CUDA_COMPILER="$nvcc" -DTORCH_CUDA_ARCH_LIST="${CUDA_ARCH:-9.0}")
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix_path" "${cuda_args[@]}" \
  -DLTCL_SYSTEM_PYTHON="$(command -v "$PYTHON")" \
  -DLTCL_BUILD_TESTS="$TESTS" -DLTCL_BUILD_BENCH=0 >"$BUILD_DIR.configure.log" 2>&1 ||
  { tail -30 "$BUILD_DIR.configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$JOBS" >"$BUILD_DIR.build.log" 2>&1 ||
  { grep -m 20 -B2 -A8 "error" "$BUILD_DIR.build.log"; exit 1; }
if ldd "$BUILD_DIR/ltcl" | grep "not found"; then
  say "libraries missing at run time (add their packages to scripts/device_debs.sh)"
  exit 1
fi
say "built $BUILD_DIR/ltcl"

# 3. The unit tests.
if [[ "$TESTS" == 1 ]]; then
  if ctest --test-dir "$BUILD_DIR" -L unit -j "$JOBS" --timeout 600 \
      >"$BUILD_DIR.ctest.log" 2>&1; then
    say "unit tests: $(grep -E 'tests passed' "$BUILD_DIR.ctest.log")"
  else
    say "unit tests FAILED:"
    grep -E "Failed|\*\*\*|tests passed" "$BUILD_DIR.ctest.log" | tail -20
  fi
fi

# 4. CIFAR-10-LT BCL+RCL: speed, then as many epochs as fit.
aug=${DEVICE_AUGMENT:-$([[ "$DEVICE" == cuda ]] && echo 1 || echo 0)}
sets=(data.dataset="$DATASET" data.root="$DATA" data.normalization=cifar10
      train.device="$DEVICE" $EXTRA)
if [[ "$aug" == 1 ]]; then
  loader=$("$BUILD_DIR/ltcl" bench train --config configs/cifar10_lt/bcl_rcl.yaml \
    --steps "${BENCH_STEPS:-20}" --warmup "${BENCH_WARMUP:-5}" --json \
    --set "${sets[@]}" data.device_augment=false)
  echo "$loader"
  say "BCL+RCL with the CPU loader: $("$PYTHON" -c "import json, sys; print(json.loads(sys.argv[1])['pipeline_images_per_s'])" "$loader") views/s"
  sets+=(data.device_augment=true)
fi
bench=$("$BUILD_DIR/ltcl" bench train --config configs/cifar10_lt/bcl_rcl.yaml \
  --steps "${BENCH_STEPS:-20}" --warmup "${BENCH_WARMUP:-5}" --json \
  --set "${sets[@]}")
echo "$bench"
read -r views_s epoch_s < <("$PYTHON" -c "
import json, sys
b = json.loads(sys.argv[1])
print(b['pipeline_images_per_s'], b['step_ms'] / 1e3 * b['steps_per_epoch'] + b.get('eval_s', 0))
" "$bench")
left=$(( BUDGET_S - ($(date +%s) - start) - 30 ))
epochs=$("$PYTHON" -c "import sys; print(max(1, min(200, int(float(sys.argv[1]) / float(sys.argv[2])))))" "$left" "$epoch_s")
say "BCL+RCL: $views_s views/s, $epoch_s s an epoch (evaluation included): 200 epochs projected $("$PYTHON" -c "import sys; print(round(200 * float(sys.argv[1]) / 60, 1))" "$epoch_s") min; training $epochs epoch(s) in the $left s left"
out=runs/device_check
rm -rf "$out"
t0=$(date +%s)
"$BUILD_DIR/ltcl" train --config configs/cifar10_lt/bcl_rcl.yaml --out "$out" \
  --set "${sets[@]}" schedule.epochs="$epochs" schedule.kind=cosine \
  schedule.warmup_epochs="$(( epochs >= 5 ? 5 : 0 ))" train.eval_every="$epochs" \
  output.plots=false >"$out.log" 2>&1 || { tail -20 "$out.log"; exit 1; }
took=$(( $(date +%s) - t0 ))
top1=$("$PYTHON" -c "import json; m = json.load(open('$out/metrics.json')); print(round(m['top1'], 2) if 'top1' in m else m)")
say "trained $epochs epoch(s) in $took s: top-1 $top1 % (test, $out/metrics.json); 200 epochs at this rate: $(( took * 200 / epochs / 60 )) min"
