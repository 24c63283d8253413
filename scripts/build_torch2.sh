#!/usr/bin/env bash
# Builds ltcl against pip's torch (2.11 with CUDA 13: the GPU machine's
# LibTorch) in a virtual environment, and runs the CPU test suite against
# it. Debian's LibTorch 1.13 stays the default of the README's commands;
# this keeps the second LibTorch line green (docs/training.md, "CUDA").
#   scripts/build_torch2.sh [--no-tests]
# Environment: VENV (.venv-torch2), TORCH_SPEC (torch==2.11.*), BUILD_DIR
# (build-torch2), CUDA_ARCH (9.0: H100 / H200; TORCH_CUDA_ARCH_LIST), JOBS,
# PYTHON (the interpreter that makes the venv; python3). Needs the CUDA
# toolkit (nvcc) to configure a CUDA LibTorch; no GPU needed to build or to
# run the CPU tests.
set -euo pipefail
cd "$(dirname "$0")/.."
run_tests=1
for arg in "$@"; do
  case "$arg" in
    --no-tests) run_tests=0 ;;
    *) echo "build_torch2.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
VENV=${VENV:-.venv-torch2}
TORCH_SPEC=${TORCH_SPEC:-torch==2.11.*}
BUILD_DIR=${BUILD_DIR:-build-torch2}
CUDA_ARCH=${CUDA_ARCH:-9.0}
JOBS=${JOBS:-$(nproc)}
PYTHON=${PYTHON:-python3}

# Debian's libraries and headers (not its LibTorch), and the test tools.
scripts/setup.sh --tests --no-build

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, numpy" 2>/dev/null ||
   ! "$VENV/bin/pip" show torch 2>/dev/null | grep -q "^Version: ${TORCH_SPEC#torch==}" ; then
  "$VENV/bin/pip" install -q "$TORCH_SPEC" numpy
fi
venv_python="$(cd "$VENV" && pwd)/bin/python"
torch_dir=$("$VENV/bin/python" -c "import os, torch; print(os.path.dirname(torch.__file__))")
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda_args=()
if [[ -x "$nvcc" ]]; then
  cuda_args=(-DCMAKE_CUDA_COMPILER="$nvcc" -DTORCH_CUDA_ARCH_LIST="$CUDA_ARCH")
fi
# CMAKE_PREFIX_PATH at torch's own folder, so that its lib/ is searched
# before /usr/lib (Debian's libtorch.so would otherwise be found); the
# Python tests use the venv's interpreter (the same torch).
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_dir" "${cuda_args[@]}" \
  -DLTCL_SYSTEM_PYTHON="$venv_python" \
  -DLTCL_BUILD_TESTS=1 -DLTCL_BUILD_BENCH=0 >/dev/null
grep -E "^(TORCH_LIBRARY|LTCL_HAS_CUDA)" "$BUILD_DIR/CMakeCache.txt" || true
cmake --build "$BUILD_DIR" -j "$JOBS"
if (( run_tests )); then
  ctest --test-dir "$BUILD_DIR" -L unit -j 2 --timeout 1500 --output-on-failure
fi
