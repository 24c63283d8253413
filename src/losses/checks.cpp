#include "checks.h"

#include "ltcl/losses/checks.h"

#include <torch/torch.h>

#include <cmath>

#include "ltcl/util/error.h"

namespace ltcl::losses {
namespace {
thread_local bool trusted = false;
}

TrustedInputs::TrustedInputs() : previous_(trusted) {
  trusted = true;
}

TrustedInputs::~TrustedInputs() {
  trusted = previous_;
}

bool inputs_trusted() {
  return trusted;
}

}  // namespace ltcl::losses

namespace ltcl::losses::detail {

std::string shape(const torch::Tensor& t) {
  if (!t.defined()) {
    return "undefined";
  }
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

void check_labels(
    const char* component, const torch::Tensor& labels, int64_t num_classes) {
  if (!labels.defined() || labels.dim() != 1 ||
      !at::isIntegralType(labels.scalar_type(), /*includeBool=*/false)) {
    fail(
        "{} - labels must be an integer tensor [N]: {{got {} {}}}",
        component,
        labels.defined() ? std::string(c10::toString(labels.scalar_type()))
                         : std::string("none"),
        shape(labels));
  }
  if (labels.numel() == 0 || inputs_trusted()) {
    return;
  }
  auto minmax = torch::aminmax(labels);
  const int64_t lo = std::get<0>(minmax).item<int64_t>();
  const int64_t hi = std::get<1>(minmax).item<int64_t>();
  if (lo < 0 || (num_classes >= 0 && hi >= num_classes)) {
    fail(
        "{} - labels must be in [0, {}): {{got min {}, max {}, labels {}}}",
        component,
        num_classes,
        lo,
        hi,
        shape(labels));
  }
}

void check_logits_labels(
    const char* component,
    const torch::Tensor& logits,
    const torch::Tensor& labels) {
  if (!logits.defined() || logits.dim() != 2 || !logits.is_floating_point()) {
    fail(
        "{} - logits must be a floating tensor [N, C]: {{got {}}}",
        component,
        shape(logits));
  }
  if (!labels.defined() || labels.dim() != 1 ||
      labels.size(0) != logits.size(0)) {
    fail(
        "{} - labels must be [N] with N = logits.size(0): {{got logits {}, "
        "labels {}}}",
        component,
        shape(logits),
        shape(labels));
  }
  check_labels(component, labels, logits.size(1));
}

void check_positive(const char* component, const char* what, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    fail("{} - {} must be > 0: {{got {}}}", component, what, value);
  }
}

void check_class_counts(
    const char* component,
    const torch::Tensor& class_counts,
    int64_t num_classes) {
  if (!class_counts.defined() || class_counts.dim() != 1 ||
      (num_classes >= 0 && class_counts.size(0) != num_classes)) {
    fail(
        "{} - class_counts must be [C] with C = {}: {{got {}}}",
        component,
        num_classes,
        shape(class_counts));
  }
  if (class_counts.numel() == 0) {
    fail(
        "{} - class_counts is empty: {{got {}}}",
        component,
        shape(class_counts));
  }
  if (inputs_trusted()) {
    return;
  }
  const double lo = class_counts.min().item<double>();
  if (!(lo > 0)) {
    fail(
        "{} - every class count must be > 0 (a class with no training "
        "samples has no prior): {{got min {} in class_counts {}}}",
        component,
        lo,
        shape(class_counts));
  }
}

torch::Tensor log_prior(
    const torch::Tensor& class_counts, const torch::Tensor& like) {
  auto n = class_counts.to(like.device(), torch::kDouble);
  return torch::log(n / n.sum()).to(like.scalar_type());
}

}  // namespace ltcl::losses::detail
