#include "ltcl/losses/paco.h"

#include <torch/torch.h>

#include <cmath>

#include "checks.h"
#include "ltcl/losses/checks.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {

torch::Tensor paco_loss(
    const torch::Tensor& g,
    const torch::Tensor& a,
    const torch::Tensor& y,
    const torch::Tensor& f,
    const torch::Tensor& fy,
    const torch::Tensor& self_index,
    double alpha,
    double tau) {
  const char* name = "paco_loss";
  detail::check_positive(name, "tau", tau);
  if (!(alpha >= 0) || !std::isfinite(alpha)) {
    fail("{} - alpha must be finite and >= 0: {{got {}}}", name, alpha);
  }
  detail::check_logits_labels(name, g, y);
  const int64_t n = g.size(0);
  const int64_t c = g.size(1);
  if (!a.defined() || a.dim() != 2 || a.size(0) != n) {
    fail("{} - anchors must be [{}, D]: {{got {}}}", name, n, detail::shape(a));
  }
  if (!f.defined() || f.dim() != 2 || f.size(1) != a.size(1)) {
    fail(
        "{} - the contrast set must be [M, {}]: {{got {}}}", name, a.size(1),
        detail::shape(f));
  }
  const int64_t m = f.size(0);
  if (!fy.defined() || fy.dim() != 1 || fy.size(0) != m) {
    fail(
        "{} - contrast_labels must be [{}]: {{got {}}}", name, m,
        detail::shape(fy));
  }
  if (!self_index.defined() || self_index.dim() != 1 ||
      self_index.size(0) != n) {
    fail(
        "{} - self_index must be [{}]: {{got {}}}", name, n,
        detail::shape(self_index));
  }
  // A value check that reads the tensor back (a device sync): skipped
  // inside a TrustedInputs scope (the trainer's steps after the first).
  if (n > 0 && !inputs_trusted()) {
    const auto si = self_index.to(torch::kLong);
    if ((si < -1).any().item<bool>() || (si >= m).any().item<bool>()) {
      fail("{} - self_index must be in [-1, {})", name, m);
    }
  }
  const auto dev = g.device();
  const auto yl = y.to(dev, torch::kLong);
  const auto fyl = fy.to(dev, torch::kLong);
  auto sims = torch::mm(a, f.t()) / tau;  // [N, M]
  auto logits = torch::cat({g.to(sims.scalar_type()), sims}, 1);
  logits = logits - std::get<0>(logits.max(1, /*keepdim=*/true)).detach();
  // The anchor's own sample leaves the contrast set (and the denominator).
  auto keep = torch::ones({n, c + m}, logits.options().dtype(torch::kBool));
  const auto si = self_index.to(dev, torch::kLong);
  if (m > 0) {
    // Without a device sync: each row writes false at its own entry, or
    // (no own entry, -1) true at contrast entry 0, which is true already.
    const auto has_self = (si >= 0).unsqueeze(1);
    keep.scatter_(1, si.clamp_min(0).unsqueeze(1) + c, has_self.logical_not());
  }
  auto weight = torch::zeros({n, c + m}, logits.options());
  weight.slice(1, 0, c).scatter_(1, yl.unsqueeze(1), 1.0);
  weight.slice(1, c, c + m)
      .copy_((yl.unsqueeze(1) == fyl.unsqueeze(0)).to(logits.scalar_type()) * alpha);
  weight = weight * keep.to(logits.scalar_type());
  const auto masked = logits.masked_fill(~keep, -std::numeric_limits<double>::infinity());
  const auto log_d = torch::logsumexp(masked, 1, /*keepdim=*/true);
  const auto per_anchor =
      -(weight * (logits - log_d)).sum(1) / weight.sum(1);
  return per_anchor.mean();
}

}  // namespace ltcl::losses
