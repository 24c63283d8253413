#pragma once
// ResNet for 32x32 (and 28x28) inputs: He et al., "Deep Residual Learning for
// Image Recognition" (CVPR 2016), section 4.2, the CIFAR-10 network used by
// LDAM-DRW, BCL, ResCom and Hybrid-SC.
//
// depth = 6n + 2: a 3x3 stem conv (16 channels), three stages of n basic
// blocks with 16 / 32 / 64 channels (stride 1 / 2 / 2), global average pool.
// resnet20 / 32 / 44 / 56 are n = 3 / 5 / 7 / 9. The module is the backbone
// only: forward returns the 64-d pooled feature; the classifier lives in
// ltcl::models::Network (or is added by the caller).
//
// Shortcut: option A of the paper (identity; when the shape changes, a
// stride-2 subsample plus zero-padded channels). It is parameter-free, which
// is what the LDAM-DRW reference ResNet-32 uses and what gives its published
// size (0.46M parameters with a 100-way linear classifier): the published
// CIFAR-LT numbers were measured on exactly this network. Option B (1x1
// projection convs) would add ~12k parameters and change the reference.
//
// Initialisation: Kaiming-normal (fan_in) for convs, BN weight 1 / bias 0.
#include <torch/nn/cloneable.h>
#include "ltcl/dist/sync_batchnorm.h"
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace ltcl::models {

struct ResNetCifarOptions {
  // 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...).
  TORCH_ARG(int64_t, depth) = 32;
  // 3 for RGB, 1 for MNIST-like data.
  TORCH_ARG(int64_t, in_channels) = 3;
  // Kaiming-normal convs, BN weight 1 / bias 0 (the LDAM-DRW code); false:
  // the layers' PyTorch defaults.
  TORCH_ARG(bool, kaiming_init) = true;
};

// One basic block: conv3x3-BN-ReLU-conv3x3-BN (+ option-A shortcut), ReLU.
class BasicBlockCifarImpl : public torch::nn::Cloneable<BasicBlockCifarImpl> {
 public:
  BasicBlockCifarImpl(int64_t in_planes, int64_t planes, int64_t stride);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  ltcl::dist::SyncBatchNorm bn1{nullptr}, bn2{nullptr};

 private:
  int64_t in_planes_, planes_, stride_;
};
TORCH_MODULE(BasicBlockCifar);

class ResNetCifarImpl : public torch::nn::Cloneable<ResNetCifarImpl> {
 public:
  explicit ResNetCifarImpl(const ResNetCifarOptions& options = {});
  void reset() override;
  // x: [N, in_channels, H, W] (H, W >= 8) -> pooled features [N, 64].
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  int64_t feature_dim() const {
    return 64;
  }

  ResNetCifarOptions options;
  torch::nn::Conv2d conv1{nullptr};
  ltcl::dist::SyncBatchNorm bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr};
};
TORCH_MODULE(ResNetCifar);

}  // namespace ltcl::models
