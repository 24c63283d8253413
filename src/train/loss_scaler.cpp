#include "ltcl/train/loss_scaler.h"

#include <torch/torch.h>

#include <cmath>

#include "ltcl/util/error.h"

namespace ltcl::train {

LossScaler::LossScaler(LossScalerOptions options)
    : options_(options), scale_(options.init_scale) {
  if (!(options_.init_scale > 0) || !std::isfinite(options_.init_scale)) {
    fail(
        "LossScaler - init_scale must be > 0: {{got {}}}", options_.init_scale);
  }
  if (!(options_.growth > 1) || !std::isfinite(options_.growth)) {
    fail("LossScaler - growth must be > 1: {{got {}}}", options_.growth);
  }
  if (!(options_.backoff > 0 && options_.backoff < 1)) {
    fail(
        "LossScaler - backoff must be in (0, 1): {{got {}}}", options_.backoff);
  }
  if (options_.growth_interval < 1) {
    fail(
        "LossScaler - growth_interval must be >= 1: {{got {}}}",
        options_.growth_interval);
  }
}

at::Tensor LossScaler::scale(const at::Tensor& loss) const {
  return loss * scale_;
}

bool LossScaler::unscale(const std::vector<at::Tensor>& params) const {
  torch::NoGradGuard no_grad;
  const double inv = 1.0 / scale_;
  bool finite = true;
  for (const auto& p : params) {
    auto g = p.grad();
    if (!g.defined()) {
      continue;
    }
    g.mul_(inv);
    if (finite && !torch::isfinite(g).all().item<bool>()) {
      finite = false;
    }
  }
  return finite;
}

void LossScaler::update(bool finite) {
  if (!finite) {
    scale_ *= options_.backoff;
    finite_steps_ = 0;
    return;
  }
  if (++finite_steps_ >= options_.growth_interval) {
    scale_ *= options_.growth;
    finite_steps_ = 0;
  }
}

at::Tensor LossScaler::state() const {
  return torch::tensor(
      {scale_, static_cast<double>(finite_steps_)}, torch::kDouble);
}

void LossScaler::load_state(const at::Tensor& state) {
  if (!state.defined() || state.numel() != 2) {
    fail(
        "LossScaler::load_state - expected {{scale, finite steps}}, got {} "
        "values",
        state.defined() ? state.numel() : 0);
  }
  auto s = state.to(torch::kDouble).contiguous();
  double scale = s[0].item<double>();
  if (!(scale > 0) || !std::isfinite(scale)) {
    fail("LossScaler::load_state - bad scale {}", scale);
  }
  scale_ = scale;
  finite_steps_ = static_cast<int64_t>(s[1].item<double>());
}

}  // namespace ltcl::train
