#include "ltcl/losses/contrastive.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "checks.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {

using detail::shape;

ContrastiveLossOptions supcon_options(double temperature) {
  return ContrastiveLossOptions().temperature(temperature);
}

ContrastiveLossOptions bcl_options(double temperature) {
  return ContrastiveLossOptions()
      .temperature(temperature)
      .class_averaging(true)
      .class_complement(true);
}

ContrastiveLossOptions rcl_options(
    double temperature,
    double balance,
    double feature_scale,
    double margin_max) {
  return ContrastiveLossOptions()
      .temperature(temperature)
      .balance(balance)
      .feature_scale(feature_scale)
      .margin_max(margin_max);
}

ContrastiveLossOptions bcl_rcl_options(
    double temperature,
    double balance,
    double feature_scale,
    double margin_max) {
  return rcl_options(temperature, balance, feature_scale, margin_max)
      .class_averaging(true)
      .class_complement(true);
}

torch::Tensor rcl_margins(
    const torch::Tensor& class_counts, double margin_max) {
  detail::check_class_counts("rcl_margins", class_counts, -1);
  if (!(margin_max >= 0) || !std::isfinite(margin_max)) {
    fail("rcl_margins - margin_max must be >= 0: {{got {}}}", margin_max);
  }
  auto m = torch::pow(class_counts.to(torch::kDouble), -0.25);
  return m * (margin_max / m.max());
}

namespace functional {

namespace {

void check_options(const ContrastiveLossOptions& o) {
  const char* name = "contrastive_loss";
  if (!(o.temperature() > 0) || !std::isfinite(o.temperature())) {
    fail("{} - temperature must be > 0: {{got {}}}", name, o.temperature());
  }
  if (!(o.feature_scale() > 0) || !std::isfinite(o.feature_scale())) {
    fail("{} - feature_scale must be > 0: {{got {}}}", name, o.feature_scale());
  }
  if (!(o.margin_max() >= 0) || !std::isfinite(o.margin_max())) {
    fail("{} - margin_max must be >= 0: {{got {}}}", name, o.margin_max());
  }
  if (!std::isfinite(o.balance())) {
    fail("{} - balance must be finite: {{got {}}}", name, o.balance());
  }
}

}  // namespace

torch::Tensor contrastive_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& prototypes,
    const torch::Tensor& class_counts,
    const ContrastiveLossOptions& options) {
  const char* name = "contrastive_loss";
  check_options(options);
  if (!features.defined() || features.dim() != 3 ||
      !features.is_floating_point() || features.size(0) < 1 ||
      features.size(1) < 1) {
    fail(
        "{} - features must be a floating tensor [B, V, D] with B, V >= 1: "
        "{{got {}}}",
        name,
        shape(features));
  }
  const int64_t b = features.size(0);
  const int64_t v = features.size(1);
  const int64_t d = features.size(2);
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != b) {
    fail(
        "{} - labels must be [B] with B = features.size(0): {{got features "
        "{}, labels {}}}",
        name,
        shape(features),
        shape(labels));
  }
  if (options.class_complement() != prototypes.defined()) {
    fail(
        "{} - class_complement is {} but prototypes are {}: {{got "
        "prototypes {}}}",
        name,
        options.class_complement() ? "on" : "off",
        prototypes.defined() ? "given" : "missing",
        shape(prototypes));
  }
  const bool need_counts = options.balance() != 0 || options.margin_max() > 0 ||
                           prototypes.defined();
  int64_t num_classes = -1;
  if (need_counts || (class_counts.defined() && class_counts.numel() > 0)) {
    detail::check_class_counts(name, class_counts, -1);
    num_classes = class_counts.size(0);
  }
  if (prototypes.defined() &&
      (prototypes.dim() != 2 || prototypes.size(0) != num_classes ||
       prototypes.size(1) != d)) {
    fail(
        "{} - prototypes must be [C, D] with C = class_counts.size(0) = {} "
        "and D = features.size(2) = {}: {{got prototypes {}, features {}}}",
        name,
        num_classes,
        d,
        shape(prototypes),
        shape(features));
  }
  detail::check_labels(name, labels, num_classes);

  const auto dtype = features.scalar_type();
  const int64_t n = b * v;
  // View-major anchors: row v*B + j is view v of sample j.
  auto anchors = features.transpose(0, 1).reshape({n, d});
  auto y = labels.to(features.device(), torch::kLong).repeat({v});
  auto keys = anchors;
  auto key_labels = y;
  if (prototypes.defined()) {
    keys = torch::cat({anchors, prototypes.to(dtype)}, 0);
    key_labels = torch::cat({y, torch::arange(num_classes, y.options())}, 0);
  }
  const int64_t m = keys.size(0);
  const double s = options.feature_scale();
  const double tau = options.temperature();

  auto logits = torch::mm(anchors, keys.t()) * (s * s / tau);  // [N, M]
  auto not_self = torch::ones({n, m}, y.options().dtype(torch::kBool));
  not_self.diagonal().fill_(false);
  auto same = y.unsqueeze(1) == key_labels.unsqueeze(0);
  auto positive = same.logical_and(not_self);
  auto positive_f = positive.to(dtype);

  if (options.balance() != 0) {
    auto prior = detail::log_prior(class_counts, logits);
    logits =
        logits + options.balance() * prior.index({key_labels}).unsqueeze(0);
  }
  if (options.margin_max() > 0) {
    auto margin = (rcl_margins(class_counts, options.margin_max()) / tau)
                      .to(features.device(), dtype);
    logits = logits - positive_f * margin.index({y}).unsqueeze(1);
  }

  // log D_i = log sum_{k != i} w_ik exp(l_ik), with the row max over k != i
  // subtracted (so the largest term is exp(0) * w > 0: no underflow to 0).
  auto weighted = logits;
  if (options.class_averaging()) {
    const int64_t bins =
        std::max<int64_t>(num_classes, key_labels.max().item<int64_t>() + 1);
    auto key_count = torch::bincount(key_labels, {}, bins)
                         .index({key_labels})
                         .to(dtype)
                         .unsqueeze(0);
    // count of y_k in K, minus 1 when y_k = y_i (k = i is masked below).
    auto denom = (key_count - same.to(dtype)).clamp_min(1);
    weighted = logits - torch::log(denom);
  }
  weighted = weighted.masked_fill(not_self.logical_not(), -INFINITY);
  auto row_max = std::get<0>(weighted.max(1, /*keepdim=*/true)).detach();
  row_max = torch::where(
      torch::isfinite(row_max), row_max, torch::zeros_like(row_max));
  auto sum_exp = torch::exp(weighted - row_max)
                     .sum(1, /*keepdim=*/true)
                     .clamp_min(std::numeric_limits<float>::min());
  auto log_denominator = torch::log(sum_exp) + row_max;  // [N, 1]

  auto log_prob = logits - log_denominator;
  auto num_positive = positive_f.sum(1);
  auto per_anchor = -(positive_f * log_prob).sum(1) / num_positive.clamp_min(1);
  // Anchors without positives: 0 (their sum above is already 0).
  return per_anchor.mean();
}

}  // namespace functional

ContrastiveLossImpl::ContrastiveLossImpl(
    const ContrastiveLossOptions& options_, std::vector<int64_t> class_counts_)
    : options(options_), counts_(std::move(class_counts_)) {
  reset();
}

void ContrastiveLossImpl::reset() {
  functional::check_options(options);
  class_counts =
      register_buffer("class_counts", torch::tensor(counts_, torch::kLong));
  if (!counts_.empty()) {
    detail::check_class_counts("ContrastiveLoss", class_counts, -1);
  } else if (
      options.balance() != 0 || options.margin_max() > 0 ||
      options.class_complement()) {
    fail(
        "ContrastiveLoss - balance, margin_max and class_complement need "
        "the class counts: {{got balance {}, margin_max {}, "
        "class_complement {}, no counts}}",
        options.balance(),
        options.margin_max(),
        options.class_complement());
  }
}

torch::Tensor ContrastiveLossImpl::forward(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& prototypes) {
  return functional::contrastive_loss(
      features,
      labels,
      prototypes,
      class_counts.numel() ? class_counts : torch::Tensor(),
      options);
}

void ContrastiveLossImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::losses::ContrastiveLoss(temperature="
         << options.temperature()
         << ", class_averaging=" << options.class_averaging()
         << ", class_complement=" << options.class_complement()
         << ", balance=" << options.balance()
         << ", feature_scale=" << options.feature_scale()
         << ", margin_max=" << options.margin_max() << ")";
}

}  // namespace ltcl::losses
