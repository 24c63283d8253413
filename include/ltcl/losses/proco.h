#pragma once
// ProCo's closed-form contrastive logits and loss (Du et al., TPAMI 2024;
// METHODS.md section 9). Each class c is a von Mises-Fisher distribution
// vMF(mu_c, kappa_c) on the unit sphere of R^p; with nu = p/2 - 1,
//
//   kt_ic    = || kappa_c mu_c + z_i / tau ||
//   logit_ic = log C_p(kappa_c) - log C_p(kt_ic)
//            = nu log kappa_c - log I_nu(kappa_c) - nu log kt_ic + log I_nu(kt_ic)
//   (log C_p(k) = nu log k - (p/2) log(2 pi) - log I_nu(k); the 2 pi terms
//   cancel), computed in float64 (losses/bessel.h);
//   d logit_ic / d kt_ic = I_{nu+1}(kt_ic) / I_nu(kt_ic) (clamped to <= 1,
//   as the official code), no gradient into mu or kappa;
//   loss = LA-CE(logits + log pi, labels), pi the training class
//   frequencies (mean over the batch).
//
// The vMF estimates themselves (the running means over the previous and the
// current epoch) are the method's state, not the loss's.
#include <torch/types.h>

namespace ltcl::losses {

// The [N, C] logits of z [N, p] (normalised projections; any floating
// dtype) against mu [C, p] (unit rows) and kappa [C] (> 0), float64, with
// the gradient above into z. Throws ltcl::Error on shapes that disagree,
// tau <= 0, or kappa <= 0 / not finite.
torch::Tensor proco_logits(
    const torch::Tensor& z,
    const torch::Tensor& mu,
    const torch::Tensor& kappa,
    double tau);

// mean_i -log softmax(logits_i + log pi)[y_i] over proco_logits (float64).
torch::Tensor proco_loss(
    const torch::Tensor& z,
    const torch::Tensor& labels,
    const torch::Tensor& mu,
    const torch::Tensor& kappa,
    const torch::Tensor& class_counts,
    double tau);

}  // namespace ltcl::losses
