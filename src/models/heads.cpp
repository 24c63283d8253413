#include "ltcl/models/heads.h"

#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::models {

namespace {

void check_positive(const char* component, const char* key, int64_t v) {
  if (v < 1) {
    fail("{} - {} must be >= 1: {{got {}}}", component, key, v);
  }
}

}  // namespace

ProjectionHeadImpl::ProjectionHeadImpl(const ProjectionHeadOptions& options_)
    : options(options_) {
  reset();
}

void ProjectionHeadImpl::reset() {
  check_positive("ProjectionHead", "in_dim", options.in_dim());
  check_positive("ProjectionHead", "hidden_dim", options.hidden_dim());
  check_positive("ProjectionHead", "out_dim", options.out_dim());
  fc1 = register_module(
      "fc1", torch::nn::Linear(options.in_dim(), options.hidden_dim()));
  bn = nullptr;
  if (options.batch_norm()) {
    bn = register_module(
        "bn", ltcl::dist::SyncBatchNorm(options.hidden_dim()));
  }
  fc2 = register_module(
      "fc2", torch::nn::Linear(options.hidden_dim(), options.out_dim()));
}

torch::Tensor ProjectionHeadImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 2 || x.size(1) != options.in_dim()) {
    fail(
        "ProjectionHead::forward - expected [N, {}]: {{got [{}]}}",
        options.in_dim(),
        fmt::join(x.sizes(), ", "));
  }
  auto h = fc1->forward(x);
  if (bn) {
    h = bn->forward(h);
  }
  h = torch::relu(h);
  return torch::nn::functional::normalize(
      fc2->forward(h), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

void ProjectionHeadImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::ProjectionHead(" << options.in_dim() << " -> "
         << options.hidden_dim() << " -> " << options.out_dim()
         << (options.batch_norm() ? "" : ", no BatchNorm") << ")";
}

NormedLinearImpl::NormedLinearImpl(const NormedLinearOptions& options_)
    : options(options_) {
  reset();
}

void NormedLinearImpl::reset() {
  check_positive("NormedLinear", "in_features", options.in_features());
  check_positive("NormedLinear", "out_features", options.out_features());
  if (!(options.scale() > 0)) {
    fail("NormedLinear - scale must be > 0: {{got {}}}", options.scale());
  }
  weight = register_parameter(
      "weight", torch::empty({options.out_features(), options.in_features()}));
  torch::NoGradGuard no_grad;
  // Random directions; the norm does not matter for a cosine classifier.
  weight.uniform_(-1, 1);
}

torch::Tensor NormedLinearImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 2 || x.size(1) != options.in_features()) {
    fail(
        "NormedLinear::forward - expected [N, {}]: {{got [{}]}}",
        options.in_features(),
        fmt::join(x.sizes(), ", "));
  }
  namespace F = torch::nn::functional;
  auto opts = F::NormalizeFuncOptions().dim(1);
  return options.scale() *
         torch::mm(F::normalize(x, opts), F::normalize(weight, opts).t());
}

void NormedLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::NormedLinear(" << options.in_features() << " -> "
         << options.out_features() << ", scale=" << options.scale() << ")";
}

PrototypeHeadImpl::PrototypeHeadImpl(const ProjectionHeadOptions& options_)
    : options(options_) {
  reset();
}

void PrototypeHeadImpl::reset() {
  mlp = register_module("mlp", ProjectionHead(options));
}

torch::Tensor PrototypeHeadImpl::forward(const torch::Tensor& class_weights) {
  if (class_weights.dim() != 2 || class_weights.size(1) != options.in_dim()) {
    fail(
        "PrototypeHead::forward - expected classifier weights [C, {}]: "
        "{{got [{}]}}",
        options.in_dim(),
        fmt::join(class_weights.sizes(), ", "));
  }
  return mlp->forward(class_weights);
}

void PrototypeHeadImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::PrototypeHead(" << options.in_dim() << " -> "
         << options.hidden_dim() << " -> " << options.out_dim() << ")";
}

PrototypeBankImpl::PrototypeBankImpl(int64_t num_classes, int64_t dim)
    : num_classes_(num_classes), dim_(dim) {
  reset();
}

void PrototypeBankImpl::reset() {
  check_positive("PrototypeBank", "num_classes", num_classes_);
  check_positive("PrototypeBank", "dim", dim_);
  weight = register_parameter("weight", torch::randn({num_classes_, dim_}));
}

torch::Tensor PrototypeBankImpl::forward() {
  return torch::nn::functional::normalize(
      weight, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

void PrototypeBankImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::PrototypeBank(" << num_classes_ << " x " << dim_
         << ")";
}

ClassBalancedQueueImpl::ClassBalancedQueueImpl(
    const ClassBalancedQueueOptions& options_)
    : options(options_) {
  reset();
}

void ClassBalancedQueueImpl::reset() {
  check_positive("ClassBalancedQueue", "num_classes", options.num_classes());
  check_positive("ClassBalancedQueue", "dim", options.dim());
  check_positive("ClassBalancedQueue", "per_class", options.per_class());
  const int64_t c = options.num_classes();
  keys = register_buffer(
      "keys", torch::zeros({c, options.per_class(), options.dim()}));
  ptr = register_buffer("ptr", torch::zeros({c}, torch::kLong));
  count = register_buffer("count", torch::zeros({c}, torch::kLong));
}

void ClassBalancedQueueImpl::enqueue(
    const torch::Tensor& embeddings, const torch::Tensor& labels) {
  const int64_t c = options.num_classes();
  const int64_t q = options.per_class();
  if (embeddings.dim() != 2 || embeddings.size(1) != options.dim() ||
      labels.dim() != 1 || labels.size(0) != embeddings.size(0)) {
    fail(
        "ClassBalancedQueue::enqueue - expected embeddings [B, {}] and "
        "labels [B]: {{got embeddings [{}], labels [{}]}}",
        options.dim(),
        fmt::join(embeddings.sizes(), ", "),
        fmt::join(labels.sizes(), ", "));
  }
  const int64_t b = labels.size(0);
  if (b == 0) {
    return;
  }
  auto y = labels.to(keys.device(), torch::kLong);
  if (!labels_checked_) {
    const int64_t lo = y.min().item<int64_t>();
    const int64_t hi = y.max().item<int64_t>();
    if (lo < 0 || hi >= c) {
      fail(
          "ClassBalancedQueue::enqueue - labels must be in [0, {}): "
          "{{got min {}, max {}}}",
          c,
          lo,
          hi);
    }
    labels_checked_ = true;
  }
  torch::NoGradGuard no_grad;
  auto emb = embeddings.detach().to(keys.device(), keys.scalar_type());
  // Rank of each sample among the batch samples of its class, in batch
  // order: stable sort by label, then position minus the group's start.
  auto sorted = torch::sort(y, /*stable=*/true, /*dim=*/0, false);
  auto y_sorted = std::get<0>(sorted);
  auto order = std::get<1>(sorted);
  auto batch_count = torch::bincount(y, {}, c);
  auto start = torch::cumsum(batch_count, 0) - batch_count;
  auto rank_sorted = torch::arange(b, y.options()) - start.index({y_sorted});
  // Only the last Q samples of a class survive (FIFO), so drop the others
  // instead of writing one slot twice.
  auto keep = rank_sorted >= (batch_count.index({y_sorted}) - q);
  auto cls = y_sorted.masked_select(keep);
  auto rank = rank_sorted.masked_select(keep);
  auto src = order.masked_select(keep);
  auto slot = torch::remainder(ptr.index({cls}) + rank, q);
  keys.index_put_({cls, slot}, emb.index({src}));
  ptr.copy_(torch::remainder(ptr + batch_count, q));
  count.copy_(torch::clamp_max(count + batch_count, q));
}

torch::Tensor ClassBalancedQueueImpl::valid_mask() const {
  auto slots = torch::arange(options.per_class(), count.options());
  return slots.unsqueeze(0) < count.unsqueeze(1);
}

void ClassBalancedQueueImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::ClassBalancedQueue(classes=" << options.num_classes()
         << ", per_class=" << options.per_class() << ", dim=" << options.dim()
         << ")";
}

}  // namespace ltcl::models
