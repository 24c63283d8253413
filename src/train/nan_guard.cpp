#include "nan_guard.h"

#include <utility>

#include <torch/torch.h>

#include "ltcl/util/error.h"
#include "optimizer_state.h"

namespace ltcl::train {
namespace {

// dst[i] = src[i], reusing dst's storage when the shape and dtype agree.
void copy_into(at::Tensor& dst, const at::Tensor& src) {
  if (!src.defined()) {
    dst = at::Tensor();
    return;
  }
  if (dst.defined() && dst.sizes() == src.sizes() &&
      dst.scalar_type() == src.scalar_type() && dst.device() == src.device()) {
    dst.copy_(src);
  } else {
    dst = src.detach().clone();
  }
}

}  // namespace

void NanGuard::begin_step(
    const torch::nn::Module& model,
    Checkpoint position,
    size_t history_size) {
  torch::NoGradGuard no_grad;
  const auto buffers = model.buffers();
  pending_.buffers.resize(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    copy_into(pending_.buffers[i], buffers[i]);
  }
  pending_.position = std::move(position);
  pending_.history_size = history_size;
}

void NanGuard::commit(
    const torch::nn::Module& model,
    const torch::optim::Optimizer& optimizer) {
  torch::NoGradGuard no_grad;
  const auto params = model.parameters();
  params_.resize(params.size());
  momentum_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    copy_into(params_[i], params[i]);
    copy_into(momentum_[i], detail::momentum_of(optimizer, params[i]));
  }
  std::swap(buffers_, pending_.buffers);
  position_ = std::move(pending_.position);
  history_size_ = pending_.history_size;
  valid_ = true;
}

const Checkpoint& NanGuard::restore(
    torch::nn::Module& model,
    torch::optim::Optimizer& optimizer) const {
  if (!valid_) {
    fail("NanGuard::restore - no step was committed");
  }
  torch::NoGradGuard no_grad;
  const auto params = model.parameters();
  const auto buffers = model.buffers();
  if (params.size() != params_.size() || buffers.size() != buffers_.size()) {
    fail("NanGuard::restore - the model changed since the fallback was kept");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].copy_(params_[i]);
    detail::set_momentum(
        optimizer, params[i],
        momentum_[i].defined() ? momentum_[i].clone() : at::Tensor());
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    buffers[i].copy_(buffers_[i]);
  }
  return position_;
}

}  // namespace ltcl::train
