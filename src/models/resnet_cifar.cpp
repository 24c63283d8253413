#include "ltcl/models/resnet_cifar.h"

#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::models {

namespace {

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3)
                               .stride(stride)
                               .padding(1)
                               .bias(false));
}

}  // namespace

BasicBlockCifarImpl::BasicBlockCifarImpl(
    int64_t in_planes, int64_t planes, int64_t stride)
    : in_planes_(in_planes), planes_(planes), stride_(stride) {
  reset();
}

void BasicBlockCifarImpl::reset() {
  conv1 = register_module("conv1", conv3x3(in_planes_, planes_, stride_));
  bn1 = register_module("bn1", ltcl::dist::SyncBatchNorm(planes_));
  conv2 = register_module("conv2", conv3x3(planes_, planes_, 1));
  bn2 = register_module("bn2", ltcl::dist::SyncBatchNorm(planes_));
}

torch::Tensor BasicBlockCifarImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  torch::Tensor shortcut = x;
  if (stride_ != 1 || in_planes_ != planes_) {
    // Option A: keep every stride-th pixel, zero-pad the new channels
    // evenly on both sides (parameter-free).
    using torch::indexing::None;
    using torch::indexing::Slice;
    shortcut = x.index(
        {Slice(),
         Slice(),
         Slice(None, None, stride_),
         Slice(None, None, stride_)});
    const int64_t extra = planes_ - in_planes_;
    shortcut = torch::constant_pad_nd(
        shortcut, {0, 0, 0, 0, extra / 2, extra - extra / 2});
  }
  return torch::relu(out + shortcut);
}

void BasicBlockCifarImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::BasicBlockCifar(" << in_planes_ << " -> " << planes_
         << ", stride=" << stride_ << ")";
}

ResNetCifarImpl::ResNetCifarImpl(const ResNetCifarOptions& options_)
    : options(options_) {
  reset();
}

void ResNetCifarImpl::reset() {
  const int64_t depth = options.depth();
  if (depth < 8 || (depth - 2) % 6 != 0) {
    fail(
        "ResNetCifar - depth must be 6n + 2 with n >= 1 (20, 32, 44, 56): "
        "{{got {}}}",
        depth);
  }
  if (options.in_channels() < 1) {
    fail(
        "ResNetCifar - in_channels must be >= 1: {{got {}}}",
        options.in_channels());
  }
  const int64_t n = (depth - 2) / 6;
  conv1 = register_module("conv1", conv3x3(options.in_channels(), 16, 1));
  bn1 = register_module("bn1", ltcl::dist::SyncBatchNorm(16));
  auto make_stage = [n](int64_t in, int64_t planes, int64_t stride) {
    torch::nn::Sequential stage;
    for (int64_t i = 0; i < n; ++i) {
      stage->push_back(
          BasicBlockCifar(i == 0 ? in : planes, planes, i == 0 ? stride : 1));
    }
    return stage;
  };
  layer1 = register_module("layer1", make_stage(16, 16, 1));
  layer2 = register_module("layer2", make_stage(16, 32, 2));
  layer3 = register_module("layer3", make_stage(32, 64, 2));

  if (!options.kaiming_init()) {
    return;
  }
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight);
    } else if (auto* bn = m->as<ltcl::dist::SyncBatchNormImpl>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    }
  }
}

torch::Tensor ResNetCifarImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != options.in_channels() || x.size(2) < 8 ||
      x.size(3) < 8) {
    fail(
        "ResNetCifar::forward - expected input [N, {}, H>=8, W>=8]: {{got "
        "[{}]}}",
        options.in_channels(),
        fmt::join(x.sizes(), ", "));
  }
  auto out = torch::relu(bn1->forward(conv1->forward(x)));
  out = layer3->forward(layer2->forward(layer1->forward(out)));
  return torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
}

void ResNetCifarImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::ResNetCifar(depth=" << options.depth()
         << ", in_channels=" << options.in_channels() << ")";
}

}  // namespace ltcl::models
