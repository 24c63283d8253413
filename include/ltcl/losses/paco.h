#pragma once
// The parametric contrastive loss of PaCo / GPaCo (Cui et al., ICCV 2021 /
// TPAMI 2023; METHODS.md section 10). Per anchor i:
//
//   l_i  = [ g_i1 .. g_iC ; s_ij = a_i . f_j / tau for j in the contrast set,
//            j != self(i) ],  minus the row's maximum (detached)
//   D_i  = sum over every entry of l_i of exp(l)
//   w    = 1 on the true class's centre, alpha on every contrast entry of
//          the same class (j != self(i)), 0 elsewhere
//   loss = mean_i [ - sum(w (l_i - log D_i)) / sum(w) ]
//
// g [N, C] are the centre logits (the linear layer on the backbone feature,
// with log pi added in training: the caller's), a [N, D] the normalised
// anchors, f [M, D] the contrast set (PaCo: the momentum keys of the batch
// and the queue; GPaCo: both views and the queue) with labels [M], and
// self_index [N] the position of the anchor's own sample in the contrast set
// (its key, or itself), -1 when it is not there. Plain autograd through
// ATen ops (gradients into g, a and f).
#include <torch/types.h>

namespace ltcl::losses {

torch::Tensor paco_loss(
    const torch::Tensor& centre_logits,
    const torch::Tensor& anchors,
    const torch::Tensor& labels,
    const torch::Tensor& contrast,
    const torch::Tensor& contrast_labels,
    const torch::Tensor& self_index,
    double alpha,
    double tau);

}  // namespace ltcl::losses
