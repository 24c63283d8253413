#include "ltcl/util/guard.h"

#include <cmath>
#include <mutex>
#include <thread>

#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

namespace ltcl::util {

NonFiniteLoss::NonFiniteLoss(
    std::string component,
    int64_t step,
    int64_t epoch,
    double v)
    : Error(fmt::format(
          "training stopped: loss component '{}' is {} at step {} (epoch {})",
          component,
          std::isnan(v) ? "nan" : (v > 0 ? "+inf" : "-inf"),
          step,
          epoch)),
      component_(std::move(component)),
      step_(step) {}

void check_finite(
    const std::map<std::string, double>& components,
    int64_t step,
    int64_t epoch) {
  for (const auto& [name, v] : components) {
    if (name != "total" && !std::isfinite(v)) {
      throw NonFiniteLoss(name, step, epoch, v);
    }
  }
  auto it = components.find("total");
  if (it != components.end() && !std::isfinite(it->second)) {
    throw NonFiniteLoss("total", step, epoch, it->second);
  }
}

int64_t setup_threads(int64_t threads, int64_t interop) {
  if (threads < 0 || interop < 0) {
    fail(
        "setup_threads - thread counts must be >= 0: {{got threads {}, "
        "interop {}}}",
        threads,
        interop);
  }
  if (threads == 0) {
    threads = std::max<int64_t>(1, std::thread::hardware_concurrency());
  }
  torch::set_num_threads(static_cast<int>(threads));
  cv::setNumThreads(static_cast<int>(threads));
  static std::once_flag once;
  static int64_t interop_set = -1;
  if (interop > 0) {
    std::call_once(once, [&] {
      try {
        at::set_num_interop_threads(static_cast<int>(interop));
        interop_set = interop;
      } catch (const c10::Error&) {
        spdlog::warn(
            "inter-op threads already fixed at {}; keeping them",
            at::get_num_interop_threads());
        interop_set = at::get_num_interop_threads();
      }
    });
    if (interop_set != interop) {
      spdlog::warn(
          "inter-op threads can be set once per process; keeping {}",
          interop_set);
    }
  }
  return threads;
}

}  // namespace ltcl::util
