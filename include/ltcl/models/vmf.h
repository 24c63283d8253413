#pragma once
// ProCo's per-class von Mises-Fisher estimates (METHODS.md section 9) as a
// module whose state is four buffers, so that it is saved with the model in
// every checkpoint and a resumed run continues with exactly the same
// estimates.
//
// Two estimators, "old" and "current", each Ave [C, p] and Amount [C]:
//  - start_epoch(seed, e): old <- current; current reset to
//    Ave_c = 0.9 * normalise(n_c), n_c standard normal drawn from ltcl's Rng
//    keyed by (seed, e) (the official code draws from torch's global
//    generator), Amount = 0;
//  - update(z, y) (once per contrastive view, with the batch gathered from
//    every process, detached): for each class c with m_c samples,
//    w_c = m_c / (m_c + Amount_c), Ave_c <- (1 - w_c) Ave_c + w_c mean_c,
//    Amount_c += m_c, in both estimators; so Ave is the running mean of
//    every sample seen since the reset;
//  - the estimate used by the loss is old's: R_c = ||Ave_c||,
//    mu_c = Ave_c / R_c, kappa_c = p R_c / (1 - R_c^2), set to 1e5 when
//    above 1e5 or negative (the official code's form).
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace ltcl::models {

class VmfEstimatorImpl : public torch::nn::Cloneable<VmfEstimatorImpl> {
 public:
  VmfEstimatorImpl(int64_t num_classes, int64_t dim);
  // Both estimators at the reset state of (seed, epoch 0).
  void reset() override;
  void start_epoch(uint64_t seed, int64_t epoch);
  // z [B, p] (any floating dtype; the buffers are float32), labels [B] in
  // [0, C). Throws ltcl::Error on shapes or labels.
  void update(const torch::Tensor& z, const torch::Tensor& labels);
  // old's mean direction [C, p] and concentration [C] (float32; computed
  // from the buffers on each call).
  torch::Tensor mu() const;
  torch::Tensor kappa() const;

  int64_t num_classes, dim;
  torch::Tensor old_ave, old_amount, cur_ave, cur_amount;

 private:
  torch::Tensor reset_ave(uint64_t seed, int64_t epoch) const;
};
TORCH_MODULE(VmfEstimator);

}  // namespace ltcl::models
