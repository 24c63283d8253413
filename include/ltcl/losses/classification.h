#pragma once
// Classification losses on logits x [N, C] and labels y [N] (METHODS.md
// section 2). n = training-set class counts [C] (every entry > 0),
// pi_c = n_c / sum_j n_j. All return the mean over the batch (a weighted
// mean when class weights are given, as torch's cross_entropy does).
//
// - CE:                 -log softmax(x)_y
// - Logit-adjusted CE:  CE(x + tau * log pi)        Menon et al., "Long-tail
//                       learning via logit adjustment", ICLR 2021. tau = 1.
//                       Test time uses raw x.
// - Balanced Softmax:   CE(x + log n)               Ren et al., "Balanced
//                       Meta-Softmax for Long-Tailed Visual Recognition",
//                       NeurIPS 2020 (log n and log pi differ by a constant
//                       per row, so this equals logit-adjusted CE, tau = 1).
// - LDAM:               CE(s * (x - Delta_y * onehot(y)), weight)
//                       Delta_c = max_margin * n_c^(-1/4) / max_j n_j^(-1/4)
//                       Cao et al., "Learning Imbalanced Datasets with
//                       Label-Distribution-Aware Margin Loss", NeurIPS 2019.
//                       max_margin 0.5, s 30. DRW (deferred re-weighting):
//                       weight_c = (1-b)/(1-b^n_c), b = 0.9999, rescaled to
//                       sum to C (drw_class_weights), switched on late.
// - Focal:              -(1-p_y)^gamma log p_y      Lin et al., "Focal Loss
//                       for Dense Object Detection", ICCV 2017. gamma 2.
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "ltcl/losses/options.h"

#include <cstdint>
#include <vector>

namespace ltcl::losses {

namespace functional {

// Plain cross entropy; weight [C] optional (weighted mean).
torch::Tensor cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& weight = {});

torch::Tensor logit_adjusted_cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts,
    const LogitAdjustedLossOptions& options = {});

torch::Tensor balanced_softmax_cross_entropy(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts);

// Delta_c = max_margin * n_c^(-1/4) / max_j n_j^(-1/4), as [C] (dtype of
// class_counts promoted to double).
torch::Tensor ldam_margins(
    const torch::Tensor& class_counts, double max_margin);

// weight [C] optional (DRW weights; weighted mean over the batch).
torch::Tensor ldam_loss(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts,
    const LDAMLossOptions& options = {},
    const torch::Tensor& weight = {});

torch::Tensor focal_loss(
    const torch::Tensor& logits,
    const torch::Tensor& labels,
    const FocalLossOptions& options = {});

}  // namespace functional

// DRW / class-balanced weights (Cui et al. CVPR 2019, as used by LDAM-DRW):
// w_c = (1 - beta) / (1 - beta^n_c), rescaled so that sum_c w_c = C.
// Returns float32 [C]. Throws on counts <= 0 or beta outside [0, 1).
torch::Tensor drw_class_weights(
    const std::vector<int64_t>& class_counts, double beta = 0.9999);

// Thin modules: the class counts are a buffer ("class_counts"), so they move
// with .to(device); forward(logits, labels) -> mean loss.
class LogitAdjustedLossImpl
    : public torch::nn::Cloneable<LogitAdjustedLossImpl> {
 public:
  explicit LogitAdjustedLossImpl(
      std::vector<int64_t> class_counts,
      const LogitAdjustedLossOptions& options = {});
  void reset() override;
  torch::Tensor forward(
      const torch::Tensor& logits, const torch::Tensor& labels);
  void pretty_print(std::ostream& stream) const override;

  LogitAdjustedLossOptions options;
  torch::Tensor class_counts;

 private:
  std::vector<int64_t> counts_;
};
TORCH_MODULE(LogitAdjustedLoss);

class BalancedSoftmaxLossImpl
    : public torch::nn::Cloneable<BalancedSoftmaxLossImpl> {
 public:
  explicit BalancedSoftmaxLossImpl(std::vector<int64_t> class_counts);
  void reset() override;
  torch::Tensor forward(
      const torch::Tensor& logits, const torch::Tensor& labels);
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor class_counts;

 private:
  std::vector<int64_t> counts_;
};
TORCH_MODULE(BalancedSoftmaxLoss);

// LDAM with optional DRW: set_class_weights(drw_class_weights(...)) at the
// DRW epoch; an undefined tensor switches the weights off again.
class LDAMLossImpl : public torch::nn::Cloneable<LDAMLossImpl> {
 public:
  explicit LDAMLossImpl(
      std::vector<int64_t> class_counts, const LDAMLossOptions& options = {});
  void reset() override;
  void set_class_weights(const torch::Tensor& weight);
  torch::Tensor forward(
      const torch::Tensor& logits, const torch::Tensor& labels);
  void pretty_print(std::ostream& stream) const override;

  LDAMLossOptions options;
  torch::Tensor class_counts;
  torch::Tensor weight;  // buffer; empty [0] when unweighted

 private:
  std::vector<int64_t> counts_;
};
TORCH_MODULE(LDAMLoss);

class FocalLossImpl : public torch::nn::Cloneable<FocalLossImpl> {
 public:
  explicit FocalLossImpl(const FocalLossOptions& options = {});
  void reset() override;
  torch::Tensor forward(
      const torch::Tensor& logits, const torch::Tensor& labels);
  void pretty_print(std::ostream& stream) const override;

  FocalLossOptions options;
};
TORCH_MODULE(FocalLoss);

}  // namespace ltcl::losses
