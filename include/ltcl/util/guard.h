#pragma once
// Guards of a training step.
#include <cstdint>
#include <map>
#include <string>

#include "ltcl/util/error.h"

namespace ltcl::util {

// A non-finite loss: the run stops; the message names the step and the
// component ("loss component 'contrastive' is nan at step 1234 (epoch 5)").
// The trainer adds what it kept (train/trainer.h: the NaN guard).
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

// A NaN or an infinity where the model's state or output must be finite: a
// logit or an embedding in evaluation, a tensor about to be saved. In
// training it means the last update diverged (the trainer's NaN guard
// handles it like a NonFiniteLoss).
class NonFiniteState : public Error {
 public:
  using Error::Error;
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
