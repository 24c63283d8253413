#!/usr/bin/env bash
# Installs the Debian packages ltcl needs (only the missing ones) and builds.
#   scripts/setup.sh [--tests] [--bench] [--no-build]
# --tests adds what the test suite needs (Debian's python3-torch + numpy for
# the NumPy-exactness and PyTorch-op tests, PIL for scripts/reproduce/'s
# image-folder converter, pytest, setuptools, wheel and the Python headers
# for the Python package's build and tests (tests/python/pip_install_check.sh:
# then no pip registry is needed), python3-venv for the venv into which the CTest
# fixture python.tensorboard_venv pip-installs tensorboard, which Debian
# lacks: tests/util/tb_venv.sh); --bench adds torchvision for the
# loader comparison. Idempotent: a second run installs nothing and only
# rebuilds what changed. BUILD_DIR (default: build) and JOBS may be set.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0; want_bench=0; build=1
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    --bench) want_bench=1; want_tests=1 ;;
    --no-build) build=0 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

pkgs=(cmake ninja-build g++ pkg-config
      libtorch-dev libopenblas0-openmp libgloo-dev
      libopencv-core-dev libopencv-imgproc-dev
      libjpeg-dev libpng-dev zlib1g-dev
      libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
      libprotobuf-dev protobuf-compiler
      dataset-fashion-mnist)
if (( want_tests )); then
  pkgs+=(libgtest-dev libgmock-dev libbenchmark-dev python3-torch python3-numpy
         python3-pil python3-scipy python3-venv python3-pytest python3-setuptools
         python3-wheel python3-dev)
fi
if (( want_bench )); then
  pkgs+=(python3-torchvision python3-pil)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if (( build )); then
  BUILD_DIR=${BUILD_DIR:-build}
  JOBS=${JOBS:-$(nproc)}
  gen=()
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
    gen=(-G Ninja)
  fi
  cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DLTCL_BUILD_TESTS=$(( want_tests ? 1 : 0 )) \
    -DLTCL_BUILD_BENCH=$(( want_bench ? 1 : 0 )) >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
