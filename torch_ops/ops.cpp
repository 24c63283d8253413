// libltcl_torch.so: ltcl's losses as TORCH_LIBRARY operators (namespace
// `ltcl`) for Python:
//
//   torch.ops.load_library("build/libltcl_torch.so")
//   loss = torch.ops.ltcl.contrastive_loss(feats, labels, protos, counts,
//                                          0.1, True, 1.0, 1.5, 0.1)
//
// Each op is a composite of ATen ops (registered as a catch-all kernel, i.e.
// CompositeImplicitAutograd), so autograd, devices and dtypes come from the
// ops it is made of. Bad arguments raise RuntimeError with ltcl's message.
#include <torch/library.h>
#include <torch/torch.h>

#include "ltcl/losses/classification.h"
#include "ltcl/losses/contrastive.h"
#include "ltcl/losses/bessel.h"
#include "ltcl/losses/hybrid.h"
#include "ltcl/losses/paco.h"
#include "ltcl/losses/proco.h"
#include "ltcl/losses/rescom.h"

namespace {

namespace F = ltcl::losses::functional;
using ltcl::losses::ContrastiveLossOptions;

torch::Tensor contrastive_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const c10::optional<torch::Tensor>& prototypes,
    const torch::Tensor& class_counts,
    double temperature,
    bool class_averaging,
    double balance,
    double feature_scale,
    double margin_max) {
  const bool complement = prototypes.has_value() && prototypes->defined();
  auto options = ContrastiveLossOptions()
                     .temperature(temperature)
                     .class_averaging(class_averaging)
                     .class_complement(complement)
                     .balance(balance)
                     .feature_scale(feature_scale)
                     .margin_max(margin_max);
  return F::contrastive_loss(
      features,
      labels,
      complement ? *prototypes : torch::Tensor(),
      class_counts,
      options);
}

torch::Tensor logit_adjusted_cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts,
    double tau) {
  return F::logit_adjusted_cross_entropy(
      logits,
      labels,
      class_counts,
      ltcl::losses::LogitAdjustedLossOptions().tau(tau));
}

torch::Tensor balanced_softmax_cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts) {
  return F::balanced_softmax_cross_entropy(logits, labels, class_counts);
}

torch::Tensor ldam_loss(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts,
    double max_margin,
    double scale,
    const c10::optional<torch::Tensor>& weight) {
  return F::ldam_loss(
      logits,
      labels,
      class_counts,
      ltcl::losses::LDAMLossOptions().max_margin(max_margin).scale(scale),
      weight.has_value() ? *weight : torch::Tensor());
}

torch::Tensor focal_loss(
    const torch::Tensor& logits, const torch::Tensor& labels, double gamma) {
  return F::focal_loss(
      logits, labels, ltcl::losses::FocalLossOptions().gamma(gamma));
}

torch::Tensor psc_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& prototypes,
    double temperature) {
  return F::psc_loss(
      features,
      labels,
      prototypes,
      ltcl::losses::PSCLossOptions().temperature(temperature));
}

torch::Tensor rescom_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& queue_keys,
    const torch::Tensor& queue_valid,
    const c10::optional<torch::Tensor>& class_weights,
    double temperature,
    int64_t k_pos,
    int64_t k_neg) {
  return F::rescom_contrastive_loss(
      features,
      labels,
      queue_keys,
      queue_valid,
      class_weights.has_value() ? *class_weights : torch::Tensor(),
      ltcl::losses::ResComLossOptions()
          .temperature(temperature)
          .k_pos(k_pos)
          .k_neg(k_neg));
}

torch::Tensor class_balanced_weights(c10::IntArrayRef counts, double beta) {
  return ltcl::losses::class_balanced_weights(counts.vec(), beta);
}

std::tuple<torch::Tensor, torch::Tensor> log_bessel_i(
    double nu,
    const torch::Tensor& x) {
  auto r = ltcl::losses::log_bessel_i(nu, x);
  return {r.log_i, r.ratio};
}

}  // namespace

TORCH_LIBRARY(ltcl, m) {
  m.def(
      "contrastive_loss(Tensor features, Tensor labels, Tensor? prototypes, "
      "Tensor class_counts, float temperature=0.1, bool class_averaging=False, "
      "float balance=0.0, float feature_scale=1.0, float margin_max=0.0) "
      "-> Tensor",
      &contrastive_loss);
  m.def(
      "logit_adjusted_cross_entropy(Tensor logits, Tensor labels, "
      "Tensor class_counts, float tau=1.0) -> Tensor",
      &logit_adjusted_cross_entropy);
  m.def(
      "balanced_softmax_cross_entropy(Tensor logits, Tensor labels, "
      "Tensor class_counts) -> Tensor",
      &balanced_softmax_cross_entropy);
  m.def(
      "ldam_loss(Tensor logits, Tensor labels, Tensor class_counts, "
      "float max_margin=0.5, float scale=30.0, Tensor? weight=None) -> Tensor",
      &ldam_loss);
  m.def(
      "focal_loss(Tensor logits, Tensor labels, float gamma=2.0) -> Tensor",
      &focal_loss);
  m.def(
      "psc_loss(Tensor features, Tensor labels, Tensor prototypes, "
      "float temperature=0.1) -> Tensor",
      &psc_loss);
  m.def(
      "proco_loss(Tensor z, Tensor labels, Tensor mu, Tensor kappa, "
      "Tensor class_counts, float tau=0.1) -> Tensor",
      &ltcl::losses::proco_loss);
  m.def("log_bessel_i(float nu, Tensor x) -> (Tensor, Tensor)", &log_bessel_i);
  m.def(
      "rescom_loss(Tensor features, Tensor labels, Tensor queue_keys, "
      "Tensor queue_valid, Tensor? class_weights=None, float temperature=0.2, "
      "int k_pos=1, int k_neg=400) -> Tensor",
      &rescom_loss);
  m.def(
      "class_balanced_weights(int[] class_counts, float beta=0.999999) -> Tensor",
      &class_balanced_weights);
  m.def(
      "paco_loss(Tensor centre_logits, Tensor anchors, Tensor labels, "
      "Tensor contrast, Tensor contrast_labels, Tensor self_index, "
      "float alpha=0.05, float tau=0.2) -> Tensor",
      &ltcl::losses::paco_loss);
}
