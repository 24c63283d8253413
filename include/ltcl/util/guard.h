#pragma once
// Guards of a training step.
#include <cstdint>
#include <map>
#include <string>

#include "ltcl/util/error.h"

namespace ltcl::util {

// A non-finite loss: the run stops; the message names the step and the
// component ("loss component 'contrastive' is nan at step 1234 (epoch 5)").
class NonFiniteLoss : public Error {
 public:
  NonFiniteLoss(std::string component, int64_t step, int64_t epoch, double v);
  const std::string& component() const {
    return component_;
  }
  int64_t step() const {
    return step_;
  }

 private:
  std::string component_;
  int64_t step_;
};

// Throws NonFiniteLoss for the first non-finite value (in name order; the
// total, if present as "total", is checked last so that the culprit
// component is named).
void check_finite(
    const std::map<std::string, double>& components,
    int64_t step,
    int64_t epoch);

// Threads: intra-op torch threads and OpenCV threads = `threads` (0: all
// cores); inter-op threads = `interop` (0: LibTorch's default), set once per
// process (LibTorch allows it only before the first parallel work; a later
// different request logs a warning). Returns the intra-op count used.
int64_t setup_threads(int64_t threads, int64_t interop = 1);

}  // namespace ltcl::util
