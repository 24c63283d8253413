#include "ltcl/models/resnet.h"

#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::models {

ResNetOptions resnet50_options(int64_t num_classes) {
  return ResNetOptions().num_classes(num_classes);
}

ResNetOptions resnet152_options(int64_t num_classes) {
  return ResNetOptions().layers({3, 8, 36, 3}).num_classes(num_classes);
}

ResNetOptions resnext50_32x4d_options(int64_t num_classes) {
  return ResNetOptions().groups(32).width_per_group(4).num_classes(num_classes);
}

BottleneckImpl::BottleneckImpl(
    int64_t in_planes,
    int64_t planes,
    int64_t stride,
    int64_t groups,
    int64_t width_per_group)
    : in_planes_(in_planes),
      planes_(planes),
      stride_(stride),
      groups_(groups),
      width_per_group_(width_per_group) {
  reset();
}

void BottleneckImpl::reset() {
  // SyncBatchNorm is plain BatchNorm until the trainer enables sync.
  using Norm2d = ltcl::dist::SyncBatchNorm;
  using torch::nn::Conv2d;
  using torch::nn::Conv2dOptions;
  const int64_t width = planes_ * width_per_group_ / 64 * groups_;
  const int64_t out = planes_ * kExpansion;
  conv1 = register_module(
      "conv1", Conv2d(Conv2dOptions(in_planes_, width, 1).bias(false)));
  bn1 = register_module("bn1", Norm2d(width));
  conv2 = register_module(
      "conv2",
      Conv2d(Conv2dOptions(width, width, 3)
                 .stride(stride_)
                 .padding(1)
                 .groups(groups_)
                 .bias(false)));
  bn2 = register_module("bn2", Norm2d(width));
  conv3 = register_module(
      "conv3", Conv2d(Conv2dOptions(width, out, 1).bias(false)));
  bn3 = register_module("bn3", Norm2d(out));
  if (stride_ != 1 || in_planes_ != out) {
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(
            Conv2d(
                Conv2dOptions(in_planes_, out, 1).stride(stride_).bias(false)),
            Norm2d(out)));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1->forward(conv1->forward(x)));
  out = torch::relu(bn2->forward(conv2->forward(out)));
  out = bn3->forward(conv3->forward(out));
  auto identity = downsample ? downsample->forward(x) : x;
  return torch::relu(out + identity);
}

void BottleneckImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::Bottleneck(" << in_planes_ << " -> "
         << planes_ * kExpansion << ", stride=" << stride_
         << ", groups=" << groups_ << ")";
}

ResNetImpl::ResNetImpl(const ResNetOptions& options_) : options(options_) {
  reset();
}

void ResNetImpl::reset() {
  if (options.layers().size() != 4) {
    fail(
        "ResNet - layers must list 4 stages: {{got {} entries}}",
        options.layers().size());
  }
  for (auto n : options.layers()) {
    if (n < 1) {
      fail("ResNet - every stage needs >= 1 block: {{got {}}}", n);
    }
  }
  if (options.groups() < 1 || options.width_per_group() < 1 ||
      options.in_channels() < 1 || options.num_classes() < 0) {
    fail(
        "ResNet - bad options: {{groups {}, width_per_group {}, in_channels "
        "{}, num_classes {}}}",
        options.groups(),
        options.width_per_group(),
        options.in_channels(),
        options.num_classes());
  }
  // SyncBatchNorm is plain BatchNorm until the trainer enables sync.
  using Norm2d = ltcl::dist::SyncBatchNorm;
  using torch::nn::Conv2d;
  using torch::nn::Conv2dOptions;
  conv1 = register_module(
      "conv1",
      Conv2d(Conv2dOptions(options.in_channels(), 64, 7)
                 .stride(2)
                 .padding(3)
                 .bias(false)));
  bn1 = register_module("bn1", Norm2d(64));
  int64_t in_planes = 64;
  auto make_layer = [&](int64_t planes, int64_t blocks, int64_t stride) {
    torch::nn::Sequential layer;
    for (int64_t i = 0; i < blocks; ++i) {
      layer->push_back(Bottleneck(
          in_planes,
          planes,
          i == 0 ? stride : 1,
          options.groups(),
          options.width_per_group()));
      in_planes = planes * BottleneckImpl::kExpansion;
    }
    return layer;
  };
  const auto& l = options.layers();
  layer1 = register_module("layer1", make_layer(64, l[0], 1));
  layer2 = register_module("layer2", make_layer(128, l[1], 2));
  layer3 = register_module("layer3", make_layer(256, l[2], 2));
  layer4 = register_module("layer4", make_layer(512, l[3], 2));
  if (options.num_classes() > 0) {
    fc = register_module(
        "fc", torch::nn::Linear(feature_dim(), options.num_classes()));
  }

  // torchvision's initialisation: Kaiming-normal (fan_out) convs, BN 1 / 0.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(
          conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<ltcl::dist::SyncBatchNormImpl>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    }
  }
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != options.in_channels()) {
    fail(
        "ResNet::forward - expected input [N, {}, H, W]: {{got [{}]}}",
        options.in_channels(),
        fmt::join(x.sizes(), ", "));
  }
  auto out = torch::relu(bn1->forward(conv1->forward(x)));
  out = torch::max_pool2d(out, 3, 2, 1);
  out = layer4->forward(layer3->forward(layer2->forward(layer1->forward(out))));
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
  return fc ? fc->forward(out) : out;
}

void ResNetImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::ResNet(groups=" << options.groups()
         << ", width_per_group=" << options.width_per_group()
         << ", num_classes=" << options.num_classes() << ")";
}

}  // namespace ltcl::models
