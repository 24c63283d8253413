#include "ltcl/models/network.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <algorithm>

#include "ltcl/models/resnet.h"
#include "ltcl/models/resnet_cifar.h"
#include "ltcl/util/autocast.h"
#include "ltcl/util/error.h"

namespace ltcl::models {

const std::vector<std::string>& adjust_names() {
  static const std::vector<std::string> names = {
      "none", "posthoc_la", "tau_norm", "ncm"};
  return names;
}

NetworkImpl::NetworkImpl(const NetworkOptions& options_) : options(options_) {
  reset();
}

void NetworkImpl::reset() {
  const auto& arch = options.arch();
  const auto& init = options.init();
  if (init != "ldam" && init != "ldam_backbone" && init != "pytorch") {
    fail(
        "Network - init must be 'ldam', 'ldam_backbone' or 'pytorch': {{got "
        "'{}'}}",
        init);
  }
  const bool ldam_init = init != "pytorch";
  if (options.num_classes() < 1) {
    fail(
        "Network - num_classes must be >= 1: {{got {}}}",
        options.num_classes());
  }
  if (arch == "resnet20" || arch == "resnet32" || arch == "resnet44" ||
      arch == "resnet56") {
    auto net = ResNetCifar(ResNetCifarOptions()
                               .depth(std::stoi(arch.substr(6)))
                               .in_channels(options.in_channels())
                               .kaiming_init(ldam_init));
    feature_dim_ = net->feature_dim();
    register_module("backbone", net.ptr());
    backbone = torch::nn::AnyModule(net);
  } else if (
      arch == "resnet50" || arch == "resnet152" ||
      arch == "resnext50_32x4d") {
    auto opts = arch == "resnet50" ? resnet50_options(0)
        : arch == "resnet152"      ? resnet152_options(0)
                                   : resnext50_32x4d_options(0);
    auto net = ResNet(opts.in_channels(options.in_channels()));
    feature_dim_ = net->feature_dim();
    register_module("backbone", net.ptr());
    backbone = torch::nn::AnyModule(net);
  } else {
    fail(
        "Network - unknown arch (resnet20, resnet32, resnet44, resnet56, "
        "resnet50, resnet152, resnext50_32x4d): {{got '{}'}}",
        arch);
  }

  if (options.classifier() == "linear") {
    linear = register_module(
        "linear", torch::nn::Linear(feature_dim_, options.num_classes()));
    if (ldam_init) {
      torch::NoGradGuard no_grad;
      torch::nn::init::kaiming_normal_(linear->weight);
    }
  } else if (options.classifier() == "cosine") {
    cosine = register_module(
        "cosine",
        NormedLinear(NormedLinearOptions(feature_dim_, options.num_classes())
                         .scale(options.cosine_scale())));
  } else {
    fail(
        "Network - classifier must be 'linear' or 'cosine': {{got '{}'}}",
        options.classifier());
  }

  const auto& adjust = options.adjust();
  const auto& names = adjust_names();
  if (std::find(names.begin(), names.end(), adjust) == names.end()) {
    fail(
        "Network - adjust must be one of {}: {{got '{}'}}",
        fmt::join(names, ", "),
        adjust);
  }
  if (!std::isfinite(options.adjust_tau()) || options.adjust_tau() < 0) {
    fail(
        "Network - adjust_tau must be finite and >= 0: {{got {}}}",
        options.adjust_tau());
  }
  if (adjust == "tau_norm" && options.class_scale()) {
    fail(
        "Network - adjust 'tau_norm' replaces the classifier's rows and "
        "cannot keep LWS's class_scale");
  }
  if (options.class_scale()) {
    class_scale = register_parameter(
        "class_scale", torch::ones({options.num_classes()}));
  }
  if (adjust == "tau_norm" && !linear) {
    fail(
        "Network - adjust 'tau_norm' needs the linear classifier: {{got "
        "'{}'}}",
        options.classifier());
  }

  if (options.proj_dim() < 0) {
    fail(
        "Network - proj_dim must be >= 0 (0 = no projection head): {{got {}}}",
        options.proj_dim());
  }
  if (options.proj_dim() > 0) {
    head = register_module(
        "head",
        ProjectionHead(ProjectionHeadOptions(
                           feature_dim_, options.proj_hidden(),
                           options.proj_dim())
                           .batch_norm(options.proj_batchnorm())));
  }
  if (options.prototype_head()) {
    if (options.proj_dim() == 0) {
      fail(
          "Network - prototype_head needs a projection head: {{got "
          "proj_dim 0}}");
    }
    head_fc = register_module(
        "head_fc",
        PrototypeHead(ProjectionHeadOptions(
            feature_dim_, options.proj_hidden(), options.proj_dim())));
  }
  if (init == "ldam") {
    // LDAM-DRW's scheme applied to the whole model: every linear layer of
    // the heads Kaiming-normal too (their BatchNorms are 1 / 0 already).
    torch::NoGradGuard no_grad;
    std::vector<torch::nn::Module*> heads;
    if (head) {
      heads.push_back(head.get());
    }
    if (head_fc) {
      heads.push_back(head_fc.get());
    }
    for (auto* m : heads) {
      for (auto& sub : m->modules(/*include_self=*/false)) {
        if (auto* lin = sub->as<torch::nn::LinearImpl>()) {
          torch::nn::init::kaiming_normal_(lin->weight);
        }
      }
    }
  }
}

namespace {

// Autocast (CPU and CUDA) off while alive, as it was afterwards.
class AutocastOff {
 public:
  AutocastOff()
      : cpu_(util::autocast_enabled(c10::DeviceType::CPU)),
        gpu_(util::autocast_enabled(c10::DeviceType::CUDA)) {
    util::set_autocast_enabled(c10::DeviceType::CPU, false);
    util::set_autocast_enabled(c10::DeviceType::CUDA, false);
  }
  ~AutocastOff() {
    util::set_autocast_enabled(c10::DeviceType::CPU, cpu_);
    util::set_autocast_enabled(c10::DeviceType::CUDA, gpu_);
  }
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;
  bool was_on() const { return cpu_ || gpu_; }

 private:
  bool cpu_, gpu_;
};

}  // namespace

NetworkOutput NetworkImpl::forward(const torch::Tensor& x) {
  NetworkOutput out;
  out.features = backbone.forward(x);
  // Under train.amp the backbone runs in bf16 / fp16, the heads in float32:
  // the logits, the embeddings the contrastive losses compare and the
  // features keep float32's precision (a bf16 logit has 8 significant
  // bits). The heads are under 1 % of the FLOPs. Without autocast nothing
  // changes.
  AutocastOff float32_heads;
  if (float32_heads.was_on() && out.features.scalar_type() != at::kFloat &&
      out.features.scalar_type() != at::kDouble) {
    out.features = out.features.to(at::kFloat);
  }
  if (is_training() || options.adjust() == "none") {
    out.logits = classifier_logits(out.features);
  } else {
    out.logits = adjusted_logits(out.features);
  }
  if (head) {
    out.embeddings = head->forward(out.features);
  }
  return out;
}

torch::Tensor NetworkImpl::classifier_weight() const {
  return linear ? linear->weight : cosine->weight;
}

torch::Tensor NetworkImpl::classifier_logits(const torch::Tensor& features) {
  auto logits = linear ? linear->forward(features) : cosine->forward(features);
  if (class_scale.defined()) {
    logits = logits * class_scale;
  }
  return logits;
}

void NetworkImpl::set_class_counts(const std::vector<int64_t>& counts) {
  if (static_cast<int64_t>(counts.size()) != options.num_classes()) {
    fail(
        "Network::set_class_counts - {} counts for {} classes",
        counts.size(),
        options.num_classes());
  }
  double total = 0;
  for (int64_t n : counts) {
    if (n < 0) {
      fail("Network::set_class_counts - a negative count: {{got {}}}", n);
    }
    total += static_cast<double>(n);
  }
  if (total <= 0) {
    fail("Network::set_class_counts - every count is 0");
  }
  if (options.adjust() != "posthoc_la") {
    adjust_offset_ = torch::Tensor();
    return;
  }
  // In double, as the official code's NumPy prior: log(pi^tau + 1e-12).
  std::vector<float> offset;
  for (int64_t n : counts) {
    const double pi = static_cast<double>(n) / total;
    offset.push_back(static_cast<float>(
        std::log(std::pow(pi, options.adjust_tau()) + 1e-12)));
  }
  adjust_offset_ = torch::tensor(offset, torch::kFloat);
}

void NetworkImpl::set_ncm(
    const torch::Tensor& mean,
    const torch::Tensor& centroids) {
  const int64_t D = feature_dim_;
  const int64_t C = options.num_classes();
  if (!mean.defined() || !centroids.defined() || mean.dim() != 1 ||
      mean.size(0) != D || centroids.dim() != 2 || centroids.size(0) != C ||
      centroids.size(1) != D) {
    fail(
        "Network::set_ncm - expected a mean [{}] and centroids [{}, {}]: "
        "{{got [{}] and [{}]}}",
        D,
        C,
        D,
        mean.defined() ? fmt::format("{}", fmt::join(mean.sizes(), ", ")) : "",
        centroids.defined()
            ? fmt::format("{}", fmt::join(centroids.sizes(), ", "))
            : "");
  }
  auto m = mean.detach().to(torch::kCPU, torch::kFloat).clone();
  auto c = centroids.detach().to(torch::kCPU, torch::kFloat).clone();
  if (!torch::isfinite(m).all().item<bool>() ||
      !torch::isfinite(c).all().item<bool>()) {
    fail("Network::set_ncm - the mean or centroids hold NaN or infinite values");
  }
  ncm_mean_ = m;
  ncm_centroids_ = c;
}

torch::Tensor NetworkImpl::adjusted_logits(const torch::Tensor& features) {
  const auto& adjust = options.adjust();
  if (adjust == "ncm") {
    if (!ncm_mean_.defined()) {
      fail(
          "Network - adjust 'ncm' needs the class centroids of the training "
          "features (ltcl adjust --adjust ncm computes them)");
    }
    const auto mean = ncm_mean_.to(features.device(), features.scalar_type());
    const auto c =
        ncm_centroids_.to(features.device(), features.scalar_type());
    const auto x = torch::nn::functional::normalize(
        features - mean, torch::nn::functional::NormalizeFuncOptions().dim(1));
    // -||x - c_k||^2 = -(||x||^2 - 2 x . c_k + ||c_k||^2)
    return -(x.pow(2).sum(1, /*keepdim=*/true) - 2 * x.mm(c.t()) +
             c.pow(2).sum(1).unsqueeze(0));
  }
  if (adjust == "tau_norm") {
    // The classifier's own dtype (float32 heads): w / ||w||^tau per row.
    const auto& w = linear->weight;
    auto norms = torch::norm(w, 2, {1}, /*keepdim=*/true).clamp_min(1e-12);
    auto scaled = w / norms.pow(options.adjust_tau());
    torch::Tensor bias;
    if (options.tau_norm_bias() && linear->bias.defined()) {
      bias = linear->bias;
    }
    return torch::nn::functional::linear(features, scaled, bias);
  }
  auto logits = classifier_logits(features);
  if (adjust == "posthoc_la") {
    if (!adjust_offset_.defined()) {
      fail(
          "Network - adjust 'posthoc_la' needs the training class counts "
          "(set_class_counts) before an evaluation");
    }
    return logits - adjust_offset_.to(logits.device(), logits.scalar_type());
  }
  return logits;
}

std::string NetworkImpl::adjust_description() const {
  const auto& adjust = options.adjust();
  if (adjust == "none" || adjust == "ncm") {
    return adjust;
  }
  std::string s = fmt::format("{} (tau {}", adjust, options.adjust_tau());
  if (adjust == "tau_norm") {
    s += options.tau_norm_bias() ? ", bias kept" : ", no bias";
  }
  return s + ")";
}

torch::Tensor NetworkImpl::prototypes() {
  if (!head_fc) {
    return {};
  }
  return head_fc->forward(classifier_weight());
}

void NetworkImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::models::Network(arch=" << options.arch()
         << ", num_classes=" << options.num_classes()
         << ", classifier=" << options.classifier()
         << ", proj=" << options.proj_hidden() << "/" << options.proj_dim()
         << ", prototype_head=" << options.prototype_head();
  if (options.class_scale()) {
    stream << ", class_scale=true";
  }
  if (options.adjust() != "none") {
    stream << ", adjust=" << adjust_description();
  }
  stream << ")";
}

}  // namespace ltcl::models
