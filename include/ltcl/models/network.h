#pragma once
// The composite model every method trains (METHODS.md section 4):
//
//   x -> backbone -> feature f -> classifier -> logits
//                              -> projection head -> embeddings (normalised)
//   classifier weights W -> head_fc -> prototypes (normalised; BCL only)
//
// Architectures: resnet20/32/44/56 (CIFAR ResNets, 64-d f; 28x28 inputs
// work too), resnet50 and resnext50_32x4d (torchvision layout, 2048-d f; the
// backbone is registered as `backbone`, so a torchvision state dict maps
// with the prefix "backbone." and without `fc`).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/models/heads.h"

namespace ltcl::models {

struct NetworkOptions {
  // resnet20 | resnet32 | resnet44 | resnet56 | resnet50 | resnet152 |
  // resnext50_32x4d
  TORCH_ARG(std::string, arch) = "resnet32";
  TORCH_ARG(int64_t, num_classes) = 10;
  TORCH_ARG(int64_t, in_channels) = 3;
  // linear | cosine (NormedLinear, logits = cosine_scale * cos).
  TORCH_ARG(std::string, classifier) = "linear";
  TORCH_ARG(double, cosine_scale) = 30.0;
  // Projection head Linear(f, proj_hidden)-BN-ReLU-Linear(proj_hidden,
  // proj_dim); proj_dim = 0: no projection head (CE-family baselines).
  TORCH_ARG(int64_t, proj_hidden) = 512;
  TORCH_ARG(int64_t, proj_dim) = 128;
  // false: the projection head without its BatchNorm (GPaCo).
  TORCH_ARG(bool, proj_batchnorm) = true;
  // BCL's head_fc (same shape as the projection head; needs proj_dim > 0).
  TORCH_ARG(bool, prototype_head) = false;
  // "ldam": Kaiming-normal weights of every conv and linear layer (CIFAR
  // ResNet, classifier, projection head, head_fc), BN 1 / 0: LDAM-DRW's
  // initialisation applied to the whole model. "ldam_backbone": the same
  // for the CIFAR ResNet and the linear classifier only, the heads keep
  // PyTorch's default. "pytorch": every layer's PyTorch default.
  // ResNet-50 / ResNeXt-50 keep torchvision's initialisation either way.
  TORCH_ARG(std::string, init) = "ldam_backbone";
  // Evaluation-time logit transform (METHODS.md section 8), applied by
  // forward() in eval mode only, so that every evaluation, prediction and
  // the exported model (models/export.h) compute the same logits; training
  // mode returns the classifier's own logits:
  //   "posthoc_la": logits - log(pi_c^tau + 1e-12), pi the training class
  //                 frequencies (set_class_counts; the official code's form)
  //   "tau_norm":   logit_c = f . w_c / ||w_c||^tau (+ b_c with
  //                 tau_norm_bias); the norm clamped at 1e-12; linear
  //                 classifier only
  //   "ncm":        logit_k = -||x^ - c_k||^2, x^ = (f - mean) / ||f - mean||,
  //                 c_k the mean x^ of class k's training images (set_ncm;
  //                 computed by `ltcl adjust --adjust ncm`)
  //   "none"
  TORCH_ARG(std::string, adjust) = "none";
  TORCH_ARG(double, adjust_tau) = 1.0;
  TORCH_ARG(bool, tau_norm_bias) = false;
  // LWS (learnable weight scaling, Kang et al.; METHODS.md section 8): a
  // parameter `class_scale` [C], initialised to 1, multiplies the
  // classifier's logits, bias included as the official code:
  // logit_c = s_c * (w_c . f + b_c). In training and evaluation alike (it
  // is part of the classifier); not with adjust tau_norm.
  TORCH_ARG(bool, class_scale) = false;
};

// The names NetworkOptions::adjust takes: none, posthoc_la, tau_norm, ncm
// (the one list the config key, --adjust and the checks read).
const std::vector<std::string>& adjust_names();

struct NetworkOutput {
  torch::Tensor features;    // [N, feature_dim]
  torch::Tensor logits;      // [N, num_classes]
  torch::Tensor embeddings;  // [N, proj_dim], normalised; undefined if none
};

class NetworkImpl : public torch::nn::Cloneable<NetworkImpl> {
 public:
  explicit NetworkImpl(const NetworkOptions& options = {});
  void reset() override;
  NetworkOutput forward(const torch::Tensor& x);
  // normalise(head_fc(W)) [C, proj_dim]; undefined without prototype_head.
  torch::Tensor prototypes();
  // The classifier's weight rows [C, feature_dim].
  torch::Tensor classifier_weight() const;
  // The classifier's logits of `features` (linear or cosine, times
  // class_scale with LWS): what forward() returns in training mode.
  torch::Tensor classifier_logits(const torch::Tensor& features);
  // The training images per class, for adjust "posthoc_la" (required
  // before an eval-mode forward there; the trainer and load_saved_model
  // call it). Throws ltcl::Error on a count < 0, an all-zero or a wrong-
  // sized vector.
  void set_class_counts(const std::vector<int64_t>& counts);
  // posthoc_la's per-class offset log(pi^tau + 1e-12) [C] (float32, CPU);
  // undefined for the other transforms or before set_class_counts.
  const torch::Tensor& adjust_offset() const {
    return adjust_offset_;
  }
  // NCM's training-feature mean [feature_dim] and class centroids
  // [C, feature_dim] (float32, CPU copies kept). Throws ltcl::Error on a
  // shape that does not fit the network or a non-finite value.
  void set_ncm(const torch::Tensor& mean, const torch::Tensor& centroids);
  const torch::Tensor& ncm_mean() const {
    return ncm_mean_;
  }
  const torch::Tensor& ncm_centroids() const {
    return ncm_centroids_;
  }
  // The eval-mode logits of `features` (what forward() returns in eval
  // mode): the classifier, then options.adjust.
  torch::Tensor adjusted_logits(const torch::Tensor& features);
  // "none", "posthoc_la (tau 1)", "tau_norm (tau 0.5, no bias)".
  std::string adjust_description() const;
  int64_t feature_dim() const {
    return feature_dim_;
  }
  void pretty_print(std::ostream& stream) const override;

  NetworkOptions options;
  torch::nn::AnyModule backbone;
  torch::nn::Linear linear{nullptr};  // classifier == "linear"
  NormedLinear cosine{nullptr};       // classifier == "cosine"
  ProjectionHead head{nullptr};       // proj_dim > 0
  PrototypeHead head_fc{nullptr};     // prototype_head
  torch::Tensor class_scale;          // [C], options.class_scale (LWS)

 private:
  int64_t feature_dim_ = 0;
  torch::Tensor adjust_offset_;
  torch::Tensor ncm_mean_, ncm_centroids_;
};
TORCH_MODULE(Network);

}  // namespace ltcl::models
