#include "ltcl/models/queue.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "ltcl/util/error.h"
#include "ltcl/util/random_normal.h"

namespace ltcl::models {
namespace {

constexpr uint64_t kQueueDomain = 0x5041434F51554555ULL;  // "PACOQUEU"

std::string shape(const torch::Tensor& t) {
  return t.defined() ? fmt::format("[{}]", fmt::join(t.sizes(), ", "))
                     : "undefined";
}

}  // namespace

LabeledQueueImpl::LabeledQueueImpl(const LabeledQueueOptions& options_)
    : options(options_) {
  if (options.size() < 1 || options.dim() < 1 || options.num_classes() < 1) {
    fail(
        "LabeledQueue - size, dim and num_classes must be >= 1: {{got {}, "
        "{}, {}}}",
        options.size(), options.dim(), options.num_classes());
  }
  reset();
}

void LabeledQueueImpl::reset() {
  const int64_t K = options.size(), D = options.dim();
  util::Rng rng{kQueueDomain, options.seed()};
  const auto v = util::standard_normal(rng, static_cast<size_t>(K * D));
  std::vector<int64_t> y(static_cast<size_t>(K));
  for (auto& l : y) {
    l = static_cast<int64_t>(rng.below(static_cast<uint64_t>(options.num_classes())));
  }
  auto n = torch::tensor(v, torch::kDouble).reshape({K, D});
  // Over dim 0, as the official code's normalize(queue, dim=0).
  n = n / n.norm(2, {0}, true).clamp_min(1e-12);
  keys = register_buffer("keys", n.to(torch::kFloat));
  labels = register_buffer("labels", torch::tensor(y, torch::kLong));
  position = register_buffer("position", torch::zeros({1}, torch::kLong));
}

void LabeledQueueImpl::enqueue(
    const torch::Tensor& new_keys, const torch::Tensor& new_labels) {
  if (!new_keys.defined() || new_keys.dim() != 2 ||
      new_keys.size(1) != options.dim() || !new_labels.defined() ||
      new_labels.dim() != 1 || new_labels.size(0) != new_keys.size(0)) {
    fail(
        "LabeledQueue::enqueue - expected keys [B, {}] and labels [B]: {{got "
        "{} and {}}}",
        options.dim(), shape(new_keys), shape(new_labels));
  }
  int64_t B = new_keys.size(0);
  if (B == 0) {
    return;
  }
  const auto y = new_labels.to(labels.device(), torch::kLong);
  const int64_t lo = y.min().item<int64_t>();
  const int64_t hi = y.max().item<int64_t>();
  if (lo < 0 || hi >= options.num_classes()) {
    fail(
        "LabeledQueue::enqueue - labels must be in [0, {}): {{got {} .. {}}}",
        options.num_classes(), lo, hi);
  }
  torch::NoGradGuard no_grad;
  auto k = new_keys.detach().to(keys.device(), keys.scalar_type());
  auto l = y;
  const int64_t K = options.size();
  int64_t start = position.item<int64_t>();
  if (B > K) {  // only the last K rows survive
    start = (start + B - K) % K;
    k = k.slice(0, B - K);
    l = l.slice(0, B - K);
    B = K;
  }
  const auto slots =
      torch::remainder(
          torch::arange(start, start + B, torch::TensorOptions(torch::kLong)), K)
          .to(keys.device());
  keys.index_copy_(0, slots, k);
  labels.index_copy_(0, slots, l);
  position.fill_((start + B) % K);
}

void LabeledQueueImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::LabeledQueue(size=" << options.size()
         << ", dim=" << options.dim() << ")";
}

}  // namespace ltcl::models
