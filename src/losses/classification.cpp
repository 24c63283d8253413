#include "ltcl/losses/classification.h"

#include <torch/torch.h>

#include <cmath>

#include "checks.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {

namespace {

using detail::shape;

void check_weight(
    const char* component, const torch::Tensor& weight, int64_t num_classes) {
  if (weight.defined() &&
      (weight.dim() != 1 || weight.size(0) != num_classes)) {
    fail(
        "{} - weight must be [C] with C = {}: {{got {}}}",
        component,
        num_classes,
        shape(weight));
  }
}

torch::Tensor counts_tensor(const std::vector<int64_t>& counts) {
  return torch::tensor(counts, torch::kLong);
}

}  // namespace

namespace functional {

torch::Tensor cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& weight) {
  detail::check_logits_labels("cross_entropy", logits, labels);
  check_weight("cross_entropy", weight, logits.size(1));
  auto opts = torch::nn::functional::CrossEntropyFuncOptions();
  if (weight.defined()) {
    opts.weight(weight.to(logits.device(), logits.scalar_type()));
  }
  return torch::nn::functional::cross_entropy(logits, labels, opts);
}

torch::Tensor logit_adjusted_cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts,
    const LogitAdjustedLossOptions& options) {
  const char* name = "logit_adjusted_cross_entropy";
  detail::check_logits_labels(name, logits, labels);
  detail::check_class_counts(name, class_counts, logits.size(1));
  if (!std::isfinite(options.tau())) {
    fail("{} - tau must be finite: {{got {}}}", name, options.tau());
  }
  auto adjusted =
      logits + options.tau() * detail::log_prior(class_counts, logits);
  return torch::nn::functional::cross_entropy(adjusted, labels);
}

torch::Tensor balanced_softmax_cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts) {
  const char* name = "balanced_softmax_cross_entropy";
  detail::check_logits_labels(name, logits, labels);
  detail::check_class_counts(name, class_counts, logits.size(1));
  auto log_n = torch::log(class_counts.to(logits.device(), torch::kDouble))
                   .to(logits.scalar_type());
  return torch::nn::functional::cross_entropy(logits + log_n, labels);
}

torch::Tensor ldam_margins(
    const torch::Tensor& class_counts, double max_margin) {
  detail::check_class_counts("ldam_margins", class_counts, -1);
  if (!(max_margin >= 0) || !std::isfinite(max_margin)) {
    fail("ldam_margins - max_margin must be >= 0: {{got {}}}", max_margin);
  }
  auto m = torch::pow(class_counts.to(torch::kDouble), -0.25);
  return m * (max_margin / m.max());
}

torch::Tensor ldam_loss(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts,
    const LDAMLossOptions& options,
    const torch::Tensor& weight) {
  const char* name = "ldam_loss";
  detail::check_logits_labels(name, logits, labels);
  detail::check_class_counts(name, class_counts, logits.size(1));
  check_weight(name, weight, logits.size(1));
  if (!(options.scale() > 0)) {
    fail("{} - scale must be > 0: {{got {}}}", name, options.scale());
  }
  auto margins = ldam_margins(class_counts, options.max_margin())
                     .to(logits.device(), logits.scalar_type());
  auto onehot = torch::nn::functional::one_hot(labels, logits.size(1))
                    .to(logits.scalar_type());
  auto adjusted = options.scale() *
                  (logits - onehot * margins.index({labels}).unsqueeze(1));
  return cross_entropy(adjusted, labels, weight);
}

torch::Tensor focal_loss(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const FocalLossOptions& options) {
  const char* name = "focal_loss";
  detail::check_logits_labels(name, logits, labels);
  if (!(options.gamma() >= 0) || !std::isfinite(options.gamma())) {
    fail("{} - gamma must be >= 0: {{got {}}}", name, options.gamma());
  }
  auto log_p = torch::log_softmax(logits, 1).gather(1, labels.unsqueeze(1));
  log_p = log_p.squeeze(1);
  // 1 - p_y computed as -expm1(log p_y): exact near p_y = 1.
  auto one_minus_p = -torch::expm1(log_p);
  if (options.gamma() == 0) {
    return (-log_p).mean();
  }
  return (-torch::pow(one_minus_p, options.gamma()) * log_p).mean();
}

}  // namespace functional

torch::Tensor drw_class_weights(
    const std::vector<int64_t>& class_counts, double beta) {
  if (!(beta >= 0 && beta < 1)) {
    fail("drw_class_weights - beta must be in [0, 1): {{got {}}}", beta);
  }
  auto n = counts_tensor(class_counts);
  detail::check_class_counts("drw_class_weights", n, -1);
  auto nd = n.to(torch::kDouble);
  // 1 - beta^n computed as -expm1(n log beta): accurate for beta near 1.
  auto w = (1.0 - beta) / -torch::expm1(nd * std::log(beta));
  if (beta == 0) {
    w = torch::ones_like(nd);
  }
  w = w * (static_cast<double>(class_counts.size()) / w.sum());
  return w.to(torch::kFloat);
}

LogitAdjustedLossImpl::LogitAdjustedLossImpl(
    std::vector<int64_t> class_counts_,
    const LogitAdjustedLossOptions& options_)
    : options(options_), counts_(std::move(class_counts_)) {
  reset();
}

void LogitAdjustedLossImpl::reset() {
  class_counts = register_buffer("class_counts", counts_tensor(counts_));
  detail::check_class_counts("LogitAdjustedLoss", class_counts, -1);
}

torch::Tensor LogitAdjustedLossImpl::forward(
    const torch::Tensor& logits, const torch::Tensor& labels) {
  return functional::logit_adjusted_cross_entropy(
      logits, labels, class_counts, options);
}

void LogitAdjustedLossImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::losses::LogitAdjustedLoss(classes=" << counts_.size()
         << ", tau=" << options.tau() << ")";
}

BalancedSoftmaxLossImpl::BalancedSoftmaxLossImpl(
    std::vector<int64_t> class_counts_)
    : counts_(std::move(class_counts_)) {
  reset();
}

void BalancedSoftmaxLossImpl::reset() {
  class_counts = register_buffer("class_counts", counts_tensor(counts_));
  detail::check_class_counts("BalancedSoftmaxLoss", class_counts, -1);
}

torch::Tensor BalancedSoftmaxLossImpl::forward(
    const torch::Tensor& logits, const torch::Tensor& labels) {
  return functional::balanced_softmax_cross_entropy(
      logits, labels, class_counts);
}

void BalancedSoftmaxLossImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::losses::BalancedSoftmaxLoss(classes=" << counts_.size()
         << ")";
}

LDAMLossImpl::LDAMLossImpl(
    std::vector<int64_t> class_counts_, const LDAMLossOptions& options_)
    : options(options_), counts_(std::move(class_counts_)) {
  reset();
}

void LDAMLossImpl::reset() {
  class_counts = register_buffer("class_counts", counts_tensor(counts_));
  detail::check_class_counts("LDAMLoss", class_counts, -1);
  weight = register_buffer("weight", torch::empty({0}));
}

void LDAMLossImpl::set_class_weights(const torch::Tensor& w) {
  if (!w.defined() || w.numel() == 0) {
    weight.set_(torch::empty({0}, weight.options()));
    return;
  }
  check_weight("LDAMLoss::set_class_weights", w, class_counts.size(0));
  weight.set_(w.detach().to(weight.device(), torch::kFloat).clone());
}

torch::Tensor LDAMLossImpl::forward(
    const torch::Tensor& logits, const torch::Tensor& labels) {
  return functional::ldam_loss(
      logits,
      labels,
      class_counts,
      options,
      weight.numel() ? weight : torch::Tensor());
}

void LDAMLossImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::losses::LDAMLoss(classes=" << counts_.size()
         << ", max_margin=" << options.max_margin()
         << ", scale=" << options.scale()
         << ", drw=" << (weight.numel() ? "on" : "off") << ")";
}

FocalLossImpl::FocalLossImpl(const FocalLossOptions& options_)
    : options(options_) {
  reset();
}

void FocalLossImpl::reset() {
  if (!(options.gamma() >= 0)) {
    fail("FocalLoss - gamma must be >= 0: {{got {}}}", options.gamma());
  }
}

torch::Tensor FocalLossImpl::forward(
    const torch::Tensor& logits, const torch::Tensor& labels) {
  return functional::focal_loss(logits, labels, options);
}

void FocalLossImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::losses::FocalLoss(gamma=" << options.gamma() << ")";
}

}  // namespace ltcl::losses
