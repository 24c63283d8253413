#pragma once
// The NaN guard's fallback state (private to src/train; the trainer uses it).
//
// A diverging update usually leaves finite weights (lr 1e30: ~1e28) whose
// NEXT forward is NaN; saving the weights at the NaN keeps a state that
// cannot train at any learning rate. So the trainer keeps S_k, the state
// before the update of the latest step whose loss was finite: when step k+1
// (or the evaluation after step k) is non-finite, S_k is what the error's
// advice -- resume with a lower optim.lr -- continues from, exactly (weights,
// buffers, momentum, position, sampler and random states as they were before
// step k; the resumed run redoes step k at the new learning rate).
//
// Cost per step: one device-side copy of the parameters and momentum
// buffers (after the loss check, before the update) and of the buffers
// (before the forward, which updates BatchNorm statistics), plus the random
// state; no allocation after the first step. Memory: one more copy of
// parameters, momentum and buffers (two of the buffers).
#include <cstddef>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ltcl/train/checkpoint.h"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace ltcl::train {

class NanGuard {
 public:
  // At the start of a step, before its batch is drawn: what the step's
  // forward changes (the model's buffers) and the run's position
  // (`position`: epoch, step_in_epoch, global_step, best metric, samplers,
  // random states, tensors; `history_size`: finished epochs recorded).
  void begin_step(
      const torch::nn::Module& model,
      Checkpoint position,
      size_t history_size);
  // The step's loss is finite: the weights and momentum buffers (unchanged
  // since begin_step) with begin_step's buffers and position become the
  // fallback.
  void commit(
      const torch::nn::Module& model,
      const torch::optim::Optimizer& optimizer);
  // Whether a step has been committed (false before the first finite step).
  bool valid() const {
    return valid_;
  }
  // Puts the fallback's weights, buffers and momentum buffers back into
  // `model` and `optimizer`; returns its position.
  const Checkpoint& restore(
      torch::nn::Module& model,
      torch::optim::Optimizer& optimizer) const;
  size_t history_size() const {
    return history_size_;
  }

 private:
  struct Pending {
    std::vector<at::Tensor> buffers;
    Checkpoint position;
    size_t history_size = 0;
  };
  Pending pending_;
  std::vector<at::Tensor> params_, momentum_, buffers_;
  Checkpoint position_;
  size_t history_size_ = 0;
  bool valid_ = false;
};

}  // namespace ltcl::train
