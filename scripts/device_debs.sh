#!/usr/bin/env bash
# On a development machine (Debian 12, package registry reachable): fetches
# the Debian packages that scripts/device_check.sh unpacks on the GPU
# machine, which has CUDA, CMake, ninja and pip's torch but no registry:
# ltcl's -dev packages (headers, CMake files) and every Debian library that
# a build against pip's torch loads (found with ldd on BUILD_DIR's
# programs, less glibc / gcc and torch / CUDA, which the machine has).
#   scripts/device_debs.sh        # after scripts/build_torch2.sh
# Writes .device/debs/*.deb (git-ignored; carry it with the run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-torch2}
out=.device/debs
mkdir -p "$out"
dev=(libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
     libopencv-core-dev libopencv-imgproc-dev libjpeg62-turbo-dev libpng-dev
     zlib1g-dev libgtest-dev libgmock-dev
     libprotobuf-dev libprotobuf32 protobuf-compiler libprotoc32)
if [[ ! -x "$BUILD_DIR/ltcl" ]]; then
  echo "device_debs.sh: no $BUILD_DIR/ltcl; run scripts/build_torch2.sh first" >&2
  exit 1
fi
# Libraries resolved under /usr or /lib (pip's torch and CUDA resolve under
# the venv), and the packages that own them.
mapfile -t libs < <(ldd "$BUILD_DIR"/ltcl "$BUILD_DIR"/test_* 2>/dev/null |
  awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib/ {print $3}' | sort -u)
runtime=()
for lib in "${libs[@]}"; do
  real=$(readlink -f "$lib")
  pkg=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1) || true
  [[ -z "$pkg" ]] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
  case "$pkg" in
    ""|libc6|libgcc-s1|libstdc++6|libgomp1|libcrypt1) ;;  # on every machine
    *) runtime+=("$pkg") ;;
  esac
done
mapfile -t all < <(printf '%s\n' "${dev[@]}" "${runtime[@]}" | sort -u)
echo "device_debs: ${all[*]}"
(cd "$out" && apt-get download "${all[@]}" >/dev/null)
du -sh "$out"
