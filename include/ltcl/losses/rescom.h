#pragma once
// ResCom: "Rebalanced Siamese Contrastive Mining for Long-Tailed
// Recognition" (Zhong et al., 2022), METHODS.md section 5.
//
// - Class-balanced weights (Cui et al., CVPR 2019 effective number):
//     E_c = (1 - beta^n_c) / (1 - beta),  w_c = mean_j(E_j) / E_c,
//   beta = 0.999999. Each anchor's loss is multiplied by w_{y_i}.
// - Queue: ltcl::models::ClassBalancedQueue (Q keys per class, FIFO).
// - Hard mining against the queue, per anchor i (N = V*B view anchors):
//   the k_pos LEAST similar valid keys of class y_i and the k_neg MOST
//   similar valid keys of other classes. Logits (all / tau):
//     [z_i . z_k for batch keys k != i,  mined positives,  mined negatives]
//   positives = batch keys with y_k = y_i (k != i) + the mined positives;
//     L_i = -1/|P(i)| sum_{p in P(i)} log softmax(logits)_p
//   loss = (1/N) sum_i w_{y_i} L_i (anchors without positives add 0;
//   w = 1 when no weights are given). Queue keys are constants (buffers);
//   gradients reach the anchors only.
// - Siamese Balanced Softmax: Balanced-Softmax CE on both views' logits,
//   averaged (= one BS-CE over the 2B concatenated rows).
// Total in the paper: BS-CE + 0.5 * contrastive; tau 0.2, Q 10, k_pos 1,
// k_neg 400 (CIFAR-100).
#include <torch/types.h>

#include "ltcl/losses/options.h"

#include <cstdint>
#include <vector>

namespace ltcl::losses {

// w_c = mean_j(E_j) / E_c with E_c = (1 - beta^n_c) / (1 - beta); float [C].
torch::Tensor class_balanced_weights(
    const std::vector<int64_t>& class_counts, double beta = 0.999999);

namespace functional {

// features [B, V, D] normalised, labels [B], queue_keys [C, Q, D],
// queue_valid [C, Q] bool (ClassBalancedQueue::valid_mask()), class_weights
// [C] or undefined. Returns the mean loss.
torch::Tensor rescom_contrastive_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& queue_keys,
    const torch::Tensor& queue_valid,
    const torch::Tensor& class_weights = {},
    const ResComLossOptions& options = {});

// (BS-CE(logits1) + BS-CE(logits2)) / 2.
torch::Tensor siamese_balanced_softmax(
    const torch::Tensor& logits1,
    const torch::Tensor& logits2,
    const torch::Tensor& labels,
    const torch::Tensor& class_counts);

}  // namespace functional

}  // namespace ltcl::losses
