#pragma once
// Heads that sit on a backbone feature f (see docs/losses.md, "Model zoo"):
//
// - ProjectionHead: Linear(d, h)-BN-ReLU-Linear(h, p), output L2-normalised
//   (SupCon / BCL / Hybrid-SC; ResCom uses 64-64-BN-ReLU-32).
// - NormedLinear: cosine classifier, logits = scale * <f/|f|, w_c/|w_c|>
//   (BCL on ImageNet-LT, scale 30; LDAM's "NormedLinear" is scale 1 with the
//   loss applying s).
// - PrototypeHead: BCL's `head_fc`, an MLP of the projection head's shape
//   applied to the classifier's weight rows W [C, d]; prototypes =
//   normalise(head_fc(W)). Gradients flow into W (W is not detached).
// - PrototypeBank: Hybrid-PSC's learnable per-class prototypes p_c,
//   returned normalised.
// - ClassBalancedQueue: ResCom's per-class FIFO memory of detached
//   embeddings, held in buffers so it follows .to(device) and checkpoints.
#include <torch/nn/cloneable.h>
#include "ltcl/dist/sync_batchnorm.h"
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace ltcl::models {

struct ProjectionHeadOptions {
  ProjectionHeadOptions(int64_t in_dim, int64_t hidden_dim, int64_t out_dim)
      : in_dim_(in_dim), hidden_dim_(hidden_dim), out_dim_(out_dim) {}
  TORCH_ARG(int64_t, in_dim);
  TORCH_ARG(int64_t, hidden_dim);
  TORCH_ARG(int64_t, out_dim);
  // false: Linear-ReLU-Linear (GPaCo's head has no BatchNorm).
  TORCH_ARG(bool, batch_norm) = true;
};

// Linear-BN-ReLU-Linear (the BN left out when options.batch_norm is false);
// forward returns L2-normalised rows [N, out_dim]. Submodules are named fc1,
// bn, fc2.
class ProjectionHeadImpl : public torch::nn::Cloneable<ProjectionHeadImpl> {
 public:
  explicit ProjectionHeadImpl(const ProjectionHeadOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  ProjectionHeadOptions options;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  ltcl::dist::SyncBatchNorm bn{nullptr};  // null without batch_norm
};
TORCH_MODULE(ProjectionHead);

struct NormedLinearOptions {
  NormedLinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  // Multiplies the cosine; 30 as BCL's ImageNet-LT classifier.
  TORCH_ARG(double, scale) = 30.0;
};

// Cosine classifier: weight [out, in] (rows = class vectors, like Linear),
// logits = scale * normalise(x) @ normalise(weight)^T.
class NormedLinearImpl : public torch::nn::Cloneable<NormedLinearImpl> {
 public:
  explicit NormedLinearImpl(const NormedLinearOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  NormedLinearOptions options;
  torch::Tensor weight;
};
TORCH_MODULE(NormedLinear);

// BCL's head_fc: same shape as the projection head, applied to classifier
// weight rows. forward(W [C, in_dim]) -> normalised prototypes [C, out_dim].
class PrototypeHeadImpl : public torch::nn::Cloneable<PrototypeHeadImpl> {
 public:
  explicit PrototypeHeadImpl(const ProjectionHeadOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& class_weights);
  void pretty_print(std::ostream& stream) const override;

  ProjectionHeadOptions options;
  ProjectionHead mlp{nullptr};
};
TORCH_MODULE(PrototypeHead);

// Hybrid-PSC: one learnable prototype per class, `weight` [C, D];
// forward() returns the rows L2-normalised.
class PrototypeBankImpl : public torch::nn::Cloneable<PrototypeBankImpl> {
 public:
  PrototypeBankImpl(int64_t num_classes, int64_t dim);
  void reset() override;
  torch::Tensor forward();
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor weight;

 private:
  int64_t num_classes_, dim_;
};
TORCH_MODULE(PrototypeBank);

struct ClassBalancedQueueOptions {
  ClassBalancedQueueOptions(int64_t num_classes, int64_t dim)
      : num_classes_(num_classes), dim_(dim) {}
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, dim);
  // Keys kept per class (ResCom: 10 on CIFAR).
  TORCH_ARG(int64_t, per_class) = 10;
};

// ResCom's class-balanced queue. Buffers: keys [C, Q, D] (slot (c, q) holds
// an embedding of class c), ptr [C] (next slot to write, FIFO per class),
// count [C] (filled slots, <= Q). Slots 0 .. count[c]-1 are valid.
class ClassBalancedQueueImpl
    : public torch::nn::Cloneable<ClassBalancedQueueImpl> {
 public:
  explicit ClassBalancedQueueImpl(const ClassBalancedQueueOptions& options);
  void reset() override;
  // Writes detached embeddings [B, D] with labels [B] (vectorised; when a
  // class has more than Q samples in the batch only its last Q are kept).
  // The label range is checked on the first call only (it reads the labels
  // back to the host: a device sync per step otherwise; the losses check
  // the same labels on a run's first step, losses/checks.h).
  void enqueue(const torch::Tensor& embeddings, const torch::Tensor& labels);
  // [C, Q] bool: which slots hold a key.
  torch::Tensor valid_mask() const;
  void pretty_print(std::ostream& stream) const override;

  ClassBalancedQueueOptions options;
  torch::Tensor keys, ptr, count;

 private:
  bool labels_checked_ = false;
};
TORCH_MODULE(ClassBalancedQueue);

}  // namespace ltcl::models
