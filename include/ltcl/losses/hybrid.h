#pragma once
// Hybrid-SC / Hybrid-PSC (Wang et al., "Contrastive Learning based Hybrid
// Networks for Long-Tailed Image Classification", CVPR 2021), METHODS.md
// section 6.
//
// - PSC loss against one learnable prototype per class (p_c normalised here,
//   so raw parameters may be passed), features z [B, D] normalised:
//     L_i = -log( exp(z_i . p_{y_i} / tau) / sum_c exp(z_i . p_c / tau) )
//   mean over the batch; O(B*C). tau 0.1 (CIFAR-100) / 1 (CIFAR-10).
// - Curriculum: L = alpha(t) L_contrastive + (1 - alpha(t)) L_CE,
//     alpha(t) = 1 - (t / T)^2, t = epoch, T = total epochs.
// The SC branch is plain SupCon: ltcl::losses::supcon_options().
#include <torch/types.h>

#include "ltcl/losses/options.h"

#include <cstdint>

namespace ltcl::losses {

// 1 - (epoch / total_epochs)^2; throws unless 0 <= epoch <= total_epochs
// and total_epochs > 0.
double hybrid_alpha(double epoch, double total_epochs);

namespace functional {

// features [B, D], labels [B], prototypes [C, D]. Mean loss.
torch::Tensor psc_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& prototypes,
    const PSCLossOptions& options = {});

}  // namespace functional

}  // namespace ltcl::losses
