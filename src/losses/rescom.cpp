#include "ltcl/losses/rescom.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "checks.h"
#include "ltcl/losses/classification.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {

torch::Tensor class_balanced_weights(
    const std::vector<int64_t>& class_counts, double beta) {
  if (!(beta > 0 && beta < 1)) {
    fail("class_balanced_weights - beta must be in (0, 1): {{got {}}}", beta);
  }
  auto n = torch::tensor(class_counts, torch::kLong);
  detail::check_class_counts("class_balanced_weights", n, -1);
  // E_c = (1 - beta^n) / (1 - beta), with expm1 for beta close to 1.
  auto e = -torch::expm1(n.to(torch::kDouble) * std::log(beta)) / (1 - beta);
  return (e.mean() / e).to(torch::kFloat);
}

namespace functional {

torch::Tensor rescom_contrastive_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& queue_keys,
    const torch::Tensor& queue_valid,
    const torch::Tensor& class_weights,
    const ResComLossOptions& options) {
  const char* name = "rescom_contrastive_loss";
  using detail::shape;
  detail::check_positive(name, "temperature", options.temperature());
  if (options.k_pos() < 0 || options.k_neg() < 0) {
    fail(
        "{} - k_pos and k_neg must be >= 0: {{got k_pos {}, k_neg {}}}",
        name,
        options.k_pos(),
        options.k_neg());
  }
  if (!features.defined() || features.dim() != 3 ||
      !features.is_floating_point() || !queue_keys.defined() ||
      queue_keys.dim() != 3 || queue_keys.size(2) != features.size(2) ||
      !queue_valid.defined() || queue_valid.dim() != 2 ||
      queue_valid.size(0) != queue_keys.size(0) ||
      queue_valid.size(1) != queue_keys.size(1)) {
    fail(
        "{} - need features [B, V, D], queue_keys [C, Q, D], queue_valid "
        "[C, Q]: {{got features {}, queue_keys {}, queue_valid {}}}",
        name,
        shape(features),
        shape(queue_keys),
        shape(queue_valid));
  }
  const int64_t b = features.size(0), v = features.size(1),
                d = features.size(2);
  const int64_t c = queue_keys.size(0), q = queue_keys.size(1);
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != b) {
    fail(
        "{} - labels must be [B]: {{got features {}, labels {}}}",
        name,
        shape(features),
        shape(labels));
  }
  detail::check_labels(name, labels, c);
  if (class_weights.defined() &&
      (class_weights.dim() != 1 || class_weights.size(0) != c)) {
    fail(
        "{} - class_weights must be [C] with C = {}: {{got {}}}",
        name,
        c,
        shape(class_weights));
  }
  const auto dtype = features.scalar_type();
  const double tau = options.temperature();
  const int64_t n = b * v;
  auto anchors = features.transpose(0, 1).reshape({n, d});
  auto y = labels.to(features.device(), torch::kLong).repeat({v});
  auto keys = queue_keys.detach().to(dtype).reshape({c * q, d});
  auto valid = queue_valid.to(features.device(), torch::kBool);

  // Batch part.
  auto batch_logits = torch::mm(anchors, anchors.t()) / tau;
  auto not_self = torch::ones({n, n}, y.options().dtype(torch::kBool));
  not_self.diagonal().fill_(false);
  auto batch_pos = (y.unsqueeze(1) == y.unsqueeze(0)).logical_and(not_self);

  // Queue similarities [N, C, Q].
  auto sim = torch::mm(anchors, keys.t()).reshape({n, c, q});
  auto inf = std::numeric_limits<double>::infinity();
  // Positives: least similar valid keys of the anchor's own class.
  auto own = sim.gather(1, y.view({n, 1, 1}).expand({n, 1, q})).squeeze(1);
  auto own_valid = valid.index({y});  // [N, Q]
  const int64_t kp = std::min(options.k_pos(), q);
  auto pos_vals = std::get<0>(
      own.masked_fill(own_valid.logical_not(), inf).topk(kp, 1, false));
  auto pos_ok = torch::isfinite(pos_vals);
  // Negatives: most similar valid keys of the other classes.
  auto cls = torch::arange(c, y.options()).view({1, c, 1});
  auto neg_ok_all = valid.unsqueeze(0).logical_and(cls != y.view({n, 1, 1}));
  const int64_t kn = std::min(options.k_neg(), c * q);
  auto neg_vals = std::get<0>(sim.masked_fill(neg_ok_all.logical_not(), -inf)
                                  .reshape({n, c * q})
                                  .topk(kn, 1, true));
  auto neg_ok = torch::isfinite(neg_vals);
  auto zero = torch::zeros({}, anchors.options());
  pos_vals = torch::where(pos_ok, pos_vals, zero) / tau;
  neg_vals = torch::where(neg_ok, neg_vals, zero) / tau;

  auto logits = torch::cat({batch_logits, pos_vals, neg_vals}, 1);
  auto in_denominator = torch::cat({not_self, pos_ok, neg_ok}, 1);
  auto positive =
      torch::cat({batch_pos, pos_ok, torch::zeros_like(neg_ok)}, 1).to(dtype);

  auto masked = logits.masked_fill(in_denominator.logical_not(), -inf);
  auto row_max = std::get<0>(masked.max(1, true)).detach();
  row_max = torch::where(
      torch::isfinite(row_max), row_max, torch::zeros_like(row_max));
  auto log_den = torch::log(torch::exp(masked - row_max)
                                .sum(1, true)
                                .clamp_min(std::numeric_limits<float>::min())) +
                 row_max;
  auto per_anchor =
      -(positive * (logits - log_den)).sum(1) / positive.sum(1).clamp_min(1);
  if (class_weights.defined()) {
    per_anchor =
        per_anchor * class_weights.to(features.device(), dtype).index({y});
  }
  return per_anchor.mean();
}

torch::Tensor siamese_balanced_softmax(
    const torch::Tensor& logits1,
    const torch::Tensor& logits2,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts) {
  if (!logits1.defined() || !logits2.defined() ||
      logits1.sizes() != logits2.sizes()) {
    fail(
        "siamese_balanced_softmax - both views' logits must have the same "
        "shape: {{got {} and {}}}",
        detail::shape(logits1),
        detail::shape(logits2));
  }
  return 0.5 * (balanced_softmax_cross_entropy(logits1, labels, class_counts) +
                balanced_softmax_cross_entropy(logits2, labels, class_counts));
}

}  // namespace functional

}  // namespace ltcl::losses
