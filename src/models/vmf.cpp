#include "ltcl/models/vmf.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "ltcl/util/error.h"
#include "ltcl/util/random_normal.h"

namespace ltcl::models {
namespace {

constexpr uint64_t kVmfDomain = 0x564D465245534554ULL;  // "VMFRESET"
constexpr double kMaxKappa = 1e5;

}  // namespace

VmfEstimatorImpl::VmfEstimatorImpl(int64_t classes, int64_t p)
    : num_classes(classes), dim(p) {
  if (classes < 1 || p < 2) {
    fail(
        "VmfEstimator - needs >= 1 class and dimension >= 2: {{got {} "
        "classes, dimension {}}}",
        classes,
        p);
  }
  reset();
}

torch::Tensor VmfEstimatorImpl::reset_ave(uint64_t seed, int64_t epoch) const {
  util::Rng rng{kVmfDomain, seed, static_cast<uint64_t>(epoch)};
  const auto v = util::standard_normal(rng, static_cast<size_t>(num_classes * dim));
  auto n = torch::tensor(v, torch::kDouble).reshape({num_classes, dim});
  return (0.9 * n / n.norm(2, {1}, true)).to(torch::kFloat);
}

void VmfEstimatorImpl::reset() {
  auto ave = reset_ave(0, 0);
  old_ave = register_buffer("old_ave", ave.clone());
  cur_ave = register_buffer("cur_ave", ave.clone());
  old_amount = register_buffer("old_amount", torch::zeros({num_classes}));
  cur_amount = register_buffer("cur_amount", torch::zeros({num_classes}));
}

void VmfEstimatorImpl::start_epoch(uint64_t seed, int64_t epoch) {
  torch::NoGradGuard no_grad;
  old_ave.copy_(cur_ave);
  old_amount.copy_(cur_amount);
  cur_ave.copy_(reset_ave(seed, epoch));
  cur_amount.zero_();
}

void VmfEstimatorImpl::update(const torch::Tensor& z, const torch::Tensor& labels) {
  if (!z.defined() || z.dim() != 2 || z.size(1) != dim || !labels.defined() ||
      labels.dim() != 1 || labels.size(0) != z.size(0)) {
    fail(
        "VmfEstimator::update - expected z [B, {}] and labels [B]: {{got "
        "[{}] and [{}]}}",
        dim,
        z.defined() ? fmt::format("{}", fmt::join(z.sizes(), ", ")) : "",
        labels.defined() ? fmt::format("{}", fmt::join(labels.sizes(), ", "))
                         : "");
  }
  if (labels.numel() == 0) {
    return;
  }
  const auto y = labels.to(old_ave.device(), torch::kLong);
  const int64_t lo = y.min().item<int64_t>();
  const int64_t hi = y.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes) {
    fail(
        "VmfEstimator::update - labels must be in [0, {}): {{got {} .. {}}}",
        num_classes,
        lo,
        hi);
  }
  torch::NoGradGuard no_grad;
  const auto zz = z.detach().to(old_ave.device(), old_ave.scalar_type());
  // Per-class sums and counts of the batch.
  auto sums = torch::zeros_like(old_ave).index_add_(0, y, zz);
  auto m = torch::zeros_like(old_amount).index_add_(
      0, y, torch::ones({y.size(0)}, old_amount.options()));
  const auto present = m > 0;
  const auto mean = sums / m.clamp_min(1).unsqueeze(1);
  for (auto* pair : {&old_ave, &cur_ave}) {
    auto& ave = *pair;
    auto& amount = pair == &old_ave ? old_amount : cur_amount;
    const auto w = torch::where(
        present, m / (m + amount).clamp_min(1e-30), torch::zeros_like(m));
    ave.copy_((1 - w).unsqueeze(1) * ave + w.unsqueeze(1) * mean);
    amount.add_(m);
  }
}

torch::Tensor VmfEstimatorImpl::mu() const {
  return old_ave / old_ave.norm(2, {1}, true).clamp_min(1e-12);
}

torch::Tensor VmfEstimatorImpl::kappa() const {
  const auto r = old_ave.norm(2, {1});
  auto k = static_cast<double>(dim) * r / (1 - r * r);
  return torch::where(
      (k > kMaxKappa) | (k < 0) | torch::isnan(k),
      torch::full_like(k, kMaxKappa),
      k);
}

}  // namespace ltcl::models
