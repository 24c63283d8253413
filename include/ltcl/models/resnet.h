#pragma once
// ResNet-50, ResNet-152 and ResNeXt-50 (32x4d) for 224x224 inputs (He et al. CVPR 2016;
// Xie et al., "Aggregated Residual Transformations", CVPR 2017), laid out
// exactly like torchvision 0.14's `resnet50` / `resnet152` /
// `resnext50_32x4d` (v1.5: the
// stride sits on the 3x3 conv of a bottleneck). Module, parameter and buffer
// names match torchvision one to one -- conv1, bn1, layer1.0.conv1 ...,
// layer1.0.downsample.0 / .1, fc -- so a torchvision state dict can be
// copied name by name (tests/models/resnet.cpp checks the full list).
//
// num_classes = 0 leaves out `fc`: forward then returns the 2048-d pooled
// feature (what ltcl::models::Network uses as its backbone).
#include <torch/nn/cloneable.h>
#include "ltcl/dist/sync_batchnorm.h"
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ltcl::models {

struct ResNetOptions {
  // Blocks per stage; {3, 4, 6, 3} is ResNet-50.
  TORCH_ARG(std::vector<int64_t>, layers) = std::vector<int64_t>{3, 4, 6, 3};
  // ResNeXt cardinality (1 = plain ResNet) and width per group.
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(int64_t, width_per_group) = 64;
  TORCH_ARG(int64_t, in_channels) = 3;
  // 0: no fc; forward returns the pooled feature.
  TORCH_ARG(int64_t, num_classes) = 1000;
};

ResNetOptions resnet50_options(int64_t num_classes = 1000);
ResNetOptions resnext50_32x4d_options(int64_t num_classes = 1000);
// {3, 8, 36, 3}: the Places-LT backbone (torchvision's `resnet152`).
ResNetOptions resnet152_options(int64_t num_classes = 1000);

// torchvision's Bottleneck: 1x1 -> 3x3 (stride, groups) -> 1x1 (x4).
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(
      int64_t in_planes,
      int64_t planes,
      int64_t stride,
      int64_t groups,
      int64_t width_per_group);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  ltcl::dist::SyncBatchNorm bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // empty when not needed

 private:
  int64_t in_planes_, planes_, stride_, groups_, width_per_group_;
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  explicit ResNetImpl(const ResNetOptions& options = {});
  void reset() override;
  // x: [N, in_channels, H, W] -> logits [N, num_classes] (or features
  // [N, 2048] when num_classes = 0).
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  int64_t feature_dim() const {
    return 512 * BottleneckImpl::kExpansion;
  }

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  ltcl::dist::SyncBatchNorm bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr},
      layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace ltcl::models
