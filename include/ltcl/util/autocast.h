#pragma once
// LibTorch's autocast state (enabled flag and low-precision type) for the
// CPU or CUDA, on both LibTorch lines ltcl builds against: 1.13 has one
// function per device (is_cpu_enabled, set_autocast_gpu_dtype, ...), which
// 2.4 and later deprecate for ones taking the device type.
//
//   const bool was = util::autocast_enabled(at::kCPU);
//   util::set_autocast_dtype(at::kCPU, at::kBFloat16);
//   util::set_autocast_enabled(at::kCPU, true);
//
// Only at::kCPU and at::kCUDA are meaningful here (what Precision uses).
#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || \
    (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define LTCL_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define LTCL_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace ltcl::util {

inline bool autocast_enabled(c10::DeviceType device) {
#if LTCL_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled()
                                         : at::autocast::is_cpu_enabled();
#endif
}

inline void set_autocast_enabled(c10::DeviceType device, bool enabled) {
#if LTCL_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

inline c10::ScalarType autocast_dtype(c10::DeviceType device) {
#if LTCL_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(device);
#else
  return device == c10::DeviceType::CUDA
      ? at::autocast::get_autocast_gpu_dtype()
      : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void set_autocast_dtype(c10::DeviceType device, c10::ScalarType t) {
#if LTCL_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(device, t);
#else
  if (device == c10::DeviceType::CUDA) {
    at::autocast::set_autocast_gpu_dtype(t);
  } else {
    at::autocast::set_autocast_cpu_dtype(t);
  }
#endif
}

}  // namespace ltcl::util
