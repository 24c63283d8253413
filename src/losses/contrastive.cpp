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

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The core as one autograd node. With logits l (the formula in the header),
// L = (1/N) sum_i [|P_i| > 0] (log D_i - (1/|P_i|) sum_{p in P_i} l_ip), so
//   dL/dl_ik = (1/N) ([|P_i| > 0] w_ik exp(l_ik) / D_i - [k in P_i] / |P_i|)
// and, with l = c A K^T + const (c = s^2 / tau), dA = c G K, dK = c G^T A.
// Saving G alone (one [N, M] matrix) instead of every intermediate of the
// elementwise chain halves the memory and most of the time of plain
// autograd (bench/contrastive_loss.cpp). Not twice differentiable.
class ContrastiveCore : public torch::autograd::Function<ContrastiveCore> {
 public:
  // anchors [N, D]; protos [C', D] (C' = 0 without class_complement);
  // y [N], key_labels [N + C']; key_bias [N + C'] or empty (no balance);
  // anchor_margin [N] or empty (no margin); num_classes C, or -1 when not
  // known. Empty, not undefined: the autograd Function records every tensor
  // argument.
  static torch::Tensor forward(
      AutogradContext* ctx,
      const torch::Tensor& anchors,
      const torch::Tensor& protos,
      const torch::Tensor& y,
      const torch::Tensor& key_labels,
      const torch::Tensor& key_bias,
      const torch::Tensor& anchor_margin,
      bool class_averaging,
      double scale,
      int64_t num_classes) {
    // Every full [N, M] pass costs about as much as the matmul here (the
    // exp several times more), so the forward is written to make few of
    // them: one exp, the self mask on the diagonal only, scale and bias
    // folded into addmm, the class-averaging weights as a per-key term plus
    // a same-class correction.
    const int64_t n = anchors.size(0);
    auto keys = protos.size(0) ? torch::cat({anchors, protos}, 0) : anchors;
    const int64_t m = keys.size(0);
    const auto dtype = anchors.scalar_type();
    auto same = (y.unsqueeze(1) == key_labels.unsqueeze(0)).to(dtype);
    auto positive = same.clone();
    positive.diagonal().zero_();  // k == i is never a positive

    torch::Tensor logits;  // l_ik, [N, M]
    if (key_bias.numel() > 0) {
      logits = torch::addmm(
          key_bias.unsqueeze(0).expand({n, m}),
          anchors,
          keys.t(),
          /*beta=*/1,
          /*alpha=*/scale);
    } else {
      logits = torch::mm(anchors, keys.t()).mul_(scale);
    }
    if (anchor_margin.numel() > 0) {
      logits.addcmul_(positive, anchor_margin.unsqueeze(1), -1);
    }
    auto num_positive = positive.sum(1, /*keepdim=*/true);
    auto has_positive = (num_positive > 0).to(dtype);
    auto inv_positive = has_positive / num_positive.clamp_min(1);
    auto positive_logit_sum = (positive * logits).sum(1, /*keepdim=*/true);

    // log(w_ik exp(l_ik)). Class averaging: w_ik = 1 / (count of y_k in K,
    // minus 1 when y_k = y_i) = 1 / count_k, times count_k / (count_k - 1)
    // on same-class keys (count_k - 1 = 0 only for k = i, masked below).
    torch::Tensor weighted;
    if (class_averaging) {
      // The class count when known (no read-back to the host: labels are
      // < C, checked or trusted), else the largest label + 1.
      const int64_t bins = num_classes > 0
          ? num_classes
          : key_labels.max().item<int64_t>() + 1;
      auto count =
          torch::bincount(key_labels, {}, bins).index({key_labels}).to(dtype);
      auto log_count = torch::log(count);
      auto correction = torch::log((count - 1).clamp_min(1)) - log_count;
      weighted = logits - log_count.unsqueeze(0);
      weighted.addcmul_(same, correction.unsqueeze(0), -1);
    } else {
      weighted = logits;  // logits is not needed any more
    }
    weighted.diagonal().fill_(-INFINITY);
    // log D_i by log-sum-exp (row max subtracted). A row with no key at all
    // (a single anchor, no prototypes) has no positive either: it gives 0.
    auto row_max = std::get<0>(weighted.max(1, /*keepdim=*/true));
    row_max.masked_fill_(torch::isfinite(row_max).logical_not(), 0);
    auto exp_w = weighted.sub_(row_max).exp_();  // in place: [N, M]
    auto sum_exp = exp_w.sum(1, /*keepdim=*/true);
    auto log_d = torch::log(sum_exp.clamp_min(
                     std::numeric_limits<float>::min())) +
        row_max;
    auto per_anchor = has_positive * log_d - positive_logit_sum * inv_positive;
    auto loss = per_anchor.mean();

    // G = dL/dl without the 1/N and the scale (applied in backward):
    // softmax over keys (rows with positives only) minus the positive mask.
    auto grad_logits =
        exp_w.mul_(has_positive / sum_exp.clamp_min(
                                      std::numeric_limits<float>::min()));
    grad_logits.addcmul_(positive, inv_positive, -1);
    ctx->save_for_backward({anchors, keys, grad_logits});
    ctx->saved_data["scale"] = scale;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const auto& anchors = saved[0];
    const auto& keys = saved[1];
    const int64_t n = anchors.size(0);
    const int64_t m = keys.size(0);
    const double scale = ctx->saved_data["scale"].toDouble();
    // The factor goes on the [N, D] / [M, D] products, not on [N, M] G.
    auto factor = grad[0] * (scale / static_cast<double>(n));
    const auto& g = saved[2];
    auto grad_keys = torch::mm(g.t(), anchors).mul_(factor);  // [M, D]
    auto grad_anchors =
        torch::mm(g, keys).mul_(factor).add_(grad_keys.narrow(0, 0, n));
    auto grad_protos = grad_keys.narrow(0, n, m - n);
    return {
        grad_anchors,
        grad_protos,
        torch::Tensor(),
        torch::Tensor(),
        torch::Tensor(),
        torch::Tensor(),
        torch::Tensor(),
        torch::Tensor(),
        torch::Tensor()};
  }
};

void check_options(const ContrastiveLossOptions& o) {
  const char* name = "contrastive_loss";
  detail::check_positive(name, "temperature", o.temperature());
  detail::check_positive(name, "feature_scale", o.feature_scale());
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
  auto key_labels = y;
  auto protos = torch::zeros({0, d}, features.options());
  if (prototypes.defined()) {
    protos = prototypes.to(dtype);
    key_labels = torch::cat({y, torch::arange(num_classes, y.options())}, 0);
  }
  const double tau = options.temperature();
  // Constant (feature-independent) parts of l_ik: b log pi_{y_k} per key and
  // m_{y_i} per anchor (applied on positive pairs only).
  auto key_bias = torch::empty({0}, features.options());
  if (options.balance() != 0) {
    key_bias = options.balance() *
        detail::log_prior(class_counts, anchors).index({key_labels});
  }
  auto anchor_margin = torch::empty({0}, features.options());
  if (options.margin_max() > 0) {
    anchor_margin = (rcl_margins(class_counts, options.margin_max()) / tau)
                        .to(features.device(), dtype)
                        .index({y});
  }
  const double s = options.feature_scale();
  return ContrastiveCore::apply(
      anchors,
      protos,
      y,
      key_labels,
      key_bias,
      anchor_margin,
      options.class_averaging(),
      s * s / tau,
      num_classes);
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
