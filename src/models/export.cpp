#include "ltcl/models/export.h"

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <variant>
#include <sstream>

#include "ltcl/models/network.h"
#include "ltcl/models/resnet.h"
#include "ltcl/models/resnet_cifar.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"

namespace ltcl::models {
namespace {

// A float literal TorchScript reads back exactly ("30.0", not "30").
std::string flt(double v) {
  std::string s = fmt::format("{:.17g}", v);
  if (s.find_first_of(".eEn") == std::string::npos) {
    s += ".0";
  }
  return s;
}

std::string float_list(const std::vector<float>& v) {
  std::vector<std::string> items;
  for (float x : v) {
    items.push_back(flt(x));
  }
  return "[" + fmt::format("{}", fmt::join(items, ", ")) + "]";
}

// Emits straight-line TorchScript for one method and collects the tensors it
// refers to (by their ltcl names) for registration on the module.
class Emitter {
 public:
  // `self.<ident>` for the tensor ltcl calls `name`.
  std::string ref(const std::string& name, const torch::Tensor& t, bool buffer) {
    std::string ident = name;
    for (char& c : ident) {
      if (c == '.') {
        c = '_';
      }
    }
    auto it = names_.find(ident);
    if (it == names_.end()) {
      names_[ident] = name;
      tensors_.push_back({ident, t, buffer});
    } else if (it->second != name) {
      fail(
          "export - two tensors map to the identifier '{}': {{'{}' and "
          "'{}'}}",
          ident,
          it->second,
          name);
    }
    return "self." + ident;
  }

  // A fresh local variable holding `expr`.
  std::string let(const std::string& expr) {
    std::string v = fmt::format("t{}", next_++);
    code_ << "        " << v << " = " << expr << "\n";
    return v;
  }

  std::string conv(
      const std::string& prefix,
      const torch::nn::Conv2dImpl& c,
      const std::string& x) {
    const auto& o = c.options;
    const auto stride = o.stride();
    const auto dilation = o.dilation();
    // LibTorch 1.13's options hold a c10::variant, 2.x's a std::variant:
    // the unqualified call finds the right get_if for either (ADL).
    using std::get_if;
    const auto* pad = get_if<torch::ExpandingArray<2>>(&o.padding());
    if (pad == nullptr) {
      fail("export - conv '{}' uses string padding (not supported)", prefix);
    }
    if (o.padding_mode().index() != 0) {  // torch::kZeros
      fail("export - conv '{}' pads other than with zeros", prefix);
    }
    std::string bias = "None";
    if (c.bias.defined() && c.bias.numel() > 0) {
      bias = ref(prefix + ".bias", c.bias, false);
    }
    return let(fmt::format(
        "torch.conv2d({}, {}, {}, [{}, {}], [{}, {}], [{}, {}], {})",
        x,
        ref(prefix + ".weight", c.weight, false),
        bias,
        (*stride)[0],
        (*stride)[1],
        (**pad)[0],
        (**pad)[1],
        (*dilation)[0],
        (*dilation)[1],
        o.groups()));
  }

  std::string bn(
      const std::string& prefix,
      const ltcl::dist::SyncBatchNormImpl& b,
      const std::string& x) {
    if (!b.options.affine() || !b.options.track_running_stats()) {
      fail(
          "export - BatchNorm '{}' needs weights and running statistics",
          prefix);
    }
    return let(fmt::format(
        "torch.batch_norm({}, {}, {}, {}, {}, False, 0.0, {}, True)",
        x,
        ref(prefix + ".weight", b.weight, false),
        ref(prefix + ".bias", b.bias, false),
        ref(prefix + ".running_mean", b.running_mean, true),
        ref(prefix + ".running_var", b.running_var, true),
        flt(b.options.eps())));
  }

  std::string linear(
      const std::string& prefix,
      const torch::nn::LinearImpl& l,
      const std::string& x) {
    std::string bias = "None";
    if (l.bias.defined() && l.bias.numel() > 0) {
      bias = ref(prefix + ".bias", l.bias, false);
    }
    return let(fmt::format(
        "torch.linear({}, {}, {})",
        x,
        ref(prefix + ".weight", l.weight, false),
        bias));
  }

  std::string relu(const std::string& x) {
    return let(fmt::format("torch.relu({})", x));
  }

  // torch::nn::functional::normalize(x, p 2, dim 1, eps 1e-12).
  std::string normalize(const std::string& x) {
    return let(fmt::format(
        "{0} / torch.clamp_min(torch.norm({0}, 2.0, [1], True), "
        "1e-12).expand_as({0})",
        x));
  }

  void ret(const std::string& x) {
    code_ << "        return " << x << "\n";
  }

  // The method body emitted so far; starts the next one.
  std::string take() {
    std::string s = code_.str();
    code_.str("");
    next_ = 0;
    return s;
  }

  struct Entry {
    std::string ident;
    torch::Tensor tensor;
    bool buffer;
  };
  const std::vector<Entry>& tensors() const {
    return tensors_;
  }

 private:
  std::ostringstream code_;
  int next_ = 0;
  std::map<std::string, std::string> names_;
  std::vector<Entry> tensors_;
};

std::string cifar_backbone(
    Emitter& e, const ResNetCifarImpl& net, const std::string& x) {
  const std::string p = "backbone";
  auto h = e.relu(e.bn(p + ".bn1", *net.bn1, e.conv(p + ".conv1", *net.conv1, x)));
  const torch::nn::Sequential* stages[] = {&net.layer1, &net.layer2, &net.layer3};
  for (int s = 0; s < 3; ++s) {
    const auto& stage = *stages[s];
    for (size_t i = 0; i < stage->size(); ++i) {
      const auto* block = stage->ptr(i)->as<BasicBlockCifarImpl>();
      if (block == nullptr) {
        fail("export - {}.layer{}.{} is not a BasicBlockCifar", p, s + 1, i);
      }
      const std::string b = fmt::format("{}.layer{}.{}", p, s + 1, i);
      auto out = e.relu(
          e.bn(b + ".bn1", *block->bn1, e.conv(b + ".conv1", *block->conv1, h)));
      out = e.bn(b + ".bn2", *block->bn2, e.conv(b + ".conv2", *block->conv2, out));
      const int64_t stride = (*block->conv1->options.stride())[0];
      const int64_t in_planes = block->conv1->weight.size(1);
      const int64_t planes = block->conv1->weight.size(0);
      std::string shortcut = h;
      if (stride != 1 || in_planes != planes) {
        // Option A: every stride-th pixel, new channels zero on both sides.
        const int64_t extra = planes - in_planes;
        shortcut = e.let(fmt::format(
            "torch.constant_pad_nd({}[:, :, ::{}, ::{}], [0, 0, 0, 0, {}, {}], "
            "0.0)",
            h,
            stride,
            stride,
            extra / 2,
            extra - extra / 2));
      }
      h = e.relu(e.let(fmt::format("{} + {}", out, shortcut)));
    }
  }
  return e.let(fmt::format(
      "torch.flatten(torch.adaptive_avg_pool2d({}, [1, 1]), 1)", h));
}

std::string torchvision_backbone(
    Emitter& e, const ResNetImpl& net, const std::string& x) {
  const std::string p = "backbone";
  if (net.fc) {
    fail("export - a ResNet backbone with its own fc is not a Network's");
  }
  auto h = e.relu(e.bn(p + ".bn1", *net.bn1, e.conv(p + ".conv1", *net.conv1, x)));
  h = e.let(fmt::format(
      "torch.max_pool2d({}, [3, 3], [2, 2], [1, 1], [1, 1], False)", h));
  const torch::nn::Sequential* stages[] = {
      &net.layer1, &net.layer2, &net.layer3, &net.layer4};
  for (int s = 0; s < 4; ++s) {
    const auto& stage = *stages[s];
    for (size_t i = 0; i < stage->size(); ++i) {
      const auto* block = stage->ptr(i)->as<BottleneckImpl>();
      if (block == nullptr) {
        fail("export - {}.layer{}.{} is not a Bottleneck", p, s + 1, i);
      }
      const std::string b = fmt::format("{}.layer{}.{}", p, s + 1, i);
      auto out = e.relu(
          e.bn(b + ".bn1", *block->bn1, e.conv(b + ".conv1", *block->conv1, h)));
      out = e.relu(
          e.bn(b + ".bn2", *block->bn2, e.conv(b + ".conv2", *block->conv2, out)));
      out = e.bn(b + ".bn3", *block->bn3, e.conv(b + ".conv3", *block->conv3, out));
      std::string identity = h;
      if (block->downsample) {
        const auto* dc = block->downsample->ptr(0)->as<torch::nn::Conv2dImpl>();
        const auto* dn = block->downsample->ptr(1)->as<ltcl::dist::SyncBatchNormImpl>();
        if (dc == nullptr || dn == nullptr) {
          fail("export - {}.downsample is not conv + BatchNorm", b);
        }
        identity = e.bn(
            b + ".downsample.1", *dn, e.conv(b + ".downsample.0", *dc, h));
      }
      h = e.relu(e.let(fmt::format("{} + {}", out, identity)));
    }
  }
  return e.let(fmt::format(
      "torch.flatten(torch.adaptive_avg_pool2d({}, [1, 1]), 1)", h));
}

struct Generated {
  std::string source;
  std::vector<Emitter::Entry> tensors;
};

Generated generate(const NetworkImpl& net, const ExportOptions& o) {
  Emitter e;
  std::ostringstream src;
  // Kept alive: find() points into the dict.
  const auto children = net.named_children();
  const auto* module = children.find("backbone");
  if (module == nullptr) {
    fail("export - the network has no backbone");
  }
  std::string f;
  if (const auto* cifar = (*module)->as<ResNetCifarImpl>()) {
    f = cifar_backbone(e, *cifar, "x");
  } else if (const auto* tv = (*module)->as<ResNetImpl>()) {
    f = torchvision_backbone(e, *tv, "x");
  } else {
    fail("export - backbone of arch '{}' has no TorchScript form",
         net.options.arch());
  }
  e.ret(f);
  src << "    def features(self, x: Tensor) -> Tensor:\n" << e.take();

  std::string logits;
  const auto& adjust = net.options.adjust();
  if (adjust == "ncm") {
    // Network::adjusted_logits: -||normalise(f - mean) - c_k||^2.
    if (!net.ncm_mean().defined()) {
      fail("export - adjust 'ncm' without its centroids (Network::set_ncm)");
    }
    auto x = e.normalize(e.let(fmt::format(
        "f - {}", e.ref("ncm_mean", net.ncm_mean(), true))));
    auto c = e.ref("ncm_centroids", net.ncm_centroids(), true);
    logits = e.let(fmt::format(
        "-(torch.sum({0} * {0}, [1], True) - 2.0 * torch.mm({0}, {1}.t()) + "
        "torch.sum({1} * {1}, [1]).unsqueeze(0))",
        x,
        c));
  } else if (adjust == "tau_norm") {
    // Network::adjusted_logits: rows over ||w||^tau, the norm clamped.
    const auto& lin = *net.linear;
    auto w = e.let(e.ref("linear.weight", lin.weight, false));
    auto scaled = e.let(fmt::format(
        "{0} / torch.pow(torch.clamp_min(torch.norm({0}, 2.0, [1], True), "
        "1e-12), {1})",
        w,
        flt(net.options.adjust_tau())));
    std::string bias = "None";
    if (net.options.tau_norm_bias() && lin.bias.defined() &&
        lin.bias.numel() > 0) {
      bias = e.ref("linear.bias", lin.bias, false);
    }
    logits = e.let(fmt::format("torch.linear(f, {}, {})", scaled, bias));
  } else if (net.linear) {
    logits = e.linear("linear", *net.linear, "f");
  } else if (net.cosine) {
    auto w = e.let(e.ref("cosine.weight", net.cosine->weight, false));
    logits = e.let(fmt::format(
        "{} * torch.mm({}, {}.t())",
        flt(net.cosine->options.scale()),
        e.normalize("f"),
        e.normalize(w)));
  } else {
    fail("export - the network has no classifier");
  }
  if (net.class_scale.defined() && adjust != "ncm") {
    // Network::classifier_logits: LWS's learned per-class scale.
    logits = e.let(fmt::format(
        "{} * {}", logits, e.ref("class_scale", net.class_scale, false)));
  }
  if (adjust == "posthoc_la") {
    if (!net.adjust_offset().defined()) {
      fail(
          "export - adjust 'posthoc_la' without the training class counts "
          "(Network::set_class_counts)");
    }
    logits = e.let(fmt::format(
        "{} - {}",
        logits,
        e.ref("adjust_offset", net.adjust_offset(), true)));
  } else if (adjust != "none" && adjust != "tau_norm" && adjust != "ncm") {
    fail("export - logit transform '{}' has no TorchScript form", adjust);
  }
  e.ret(logits);
  src << "    def classify(self, f: Tensor) -> Tensor:\n" << e.take();
  src << "    def forward(self, x: Tensor) -> Tensor:\n"
      << "        return self.classify(self.features(x))\n";

  if (net.head) {
    auto h = e.linear("head.fc1", *net.head->fc1, "f");
    if (net.head->bn) {  // GPaCo's head has none
      h = e.bn("head.bn", *net.head->bn, h);
    }
    h = e.relu(h);
    e.ret(e.normalize(e.linear("head.fc2", *net.head->fc2, h)));
    src << "    def project(self, f: Tensor) -> Tensor:\n" << e.take();
    src << "    def embeddings(self, x: Tensor) -> Tensor:\n"
        << "        return self.project(self.features(x))\n";
  }

  // uint8 NHWC -> normalised float NCHW, as augment::Normalize does.
  auto per_channel = [&](const std::vector<float>& v) {
    std::vector<float> full = v;
    if (full.size() == 1) {
      full.assign(static_cast<size_t>(o.channels), v[0]);
    }
    return full;
  };
  src << "    def preprocess(self, images: Tensor) -> Tensor:\n"
      << "        x = images.permute(0, 3, 1, 2).float() / 255.0\n"
      << "        mean = torch.tensor(" << float_list(per_channel(o.mean))
      << ").float().view(1, -1, 1, 1)\n"
      << "        std = torch.tensor(" << float_list(per_channel(o.std))
      << ").float().view(1, -1, 1, 1)\n"
      << "        return (x - mean) / std\n";
  return {src.str(), e.tensors()};
}

void check_options(const ExportOptions& o, const NetworkImpl& net) {
  if (static_cast<int64_t>(o.class_names.size()) != net.options.num_classes()) {
    fail(
        "export - {} class names for a network of {} classes",
        o.class_names.size(),
        net.options.num_classes());
  }
  const auto ok = [&](const std::vector<float>& v) {
    return v.size() == 1 || static_cast<int64_t>(v.size()) == o.channels;
  };
  if (!ok(o.mean) || !ok(o.std)) {
    fail(
        "export - mean / std need 1 or {} entries: {{got {} / {}}}",
        o.channels,
        o.mean.size(),
        o.std.size());
  }
}

}  // namespace

std::string torchscript_source(const NetworkImpl& net, const ExportOptions& o) {
  check_options(o, net);
  return generate(net, o).source;
}

void export_torchscript(
    const NetworkImpl& net,
    const std::string& path,
    const ExportOptions& options) {
  check_options(options, net);
  const auto gen = generate(net, options);
  torch::jit::Module m("__torch__.ltcl.ExportedModel");
  torch::NoGradGuard no_grad;
  for (const auto& t : gen.tensors) {
    auto copy = t.tensor.detach().to(torch::kCPU, torch::kFloat).clone();
    if (t.buffer) {
      m.register_buffer(t.ident, copy);
    } else {
      m.register_parameter(t.ident, copy, /*is_buffer=*/false);
    }
  }
  c10::List<std::string> names;
  for (const auto& n : options.class_names) {
    names.push_back(n);
  }
  // Always in eval mode (BatchNorm uses its running statistics); Python's
  // .eval() / .train() need the attribute to exist.
  m.register_attribute("training", c10::BoolType::get(), c10::IValue(false));
  m.register_attribute(
      "class_names", c10::ListType::ofStrings(), c10::IValue(names));
  m.register_attribute(
      "input_size",
      c10::ListType::ofInts(),
      c10::IValue(c10::List<int64_t>(
          {options.channels, options.height, options.width})));
  c10::List<double> mean, stdv;
  for (float v : options.mean) {
    mean.push_back(v);
  }
  for (float v : options.std) {
    stdv.push_back(v);
  }
  m.register_attribute("mean", c10::ListType::ofFloats(), c10::IValue(mean));
  m.register_attribute("std", c10::ListType::ofFloats(), c10::IValue(stdv));
  m.register_attribute(
      "ltcl_info", c10::StringType::get(), c10::IValue(options.info_json));
  m.register_attribute(
      "logit_adjust",
      c10::StringType::get(),
      c10::IValue(net.adjust_description()));
  try {
    m.define(gen.source);
  } catch (const c10::Error& err) {
    fail(
        "export - the generated TorchScript does not compile (a bug in "
        "ltcl): {}",
        err.what_without_backtrace());
  }
  std::ostringstream bytes;
  try {
    m.save(bytes);
  } catch (const c10::Error& err) {
    fail("export - cannot serialise the model for '{}': {}", path,
         err.what_without_backtrace());
  }
  const std::string data = bytes.str();
  util::atomic_write(path, [&](const util::WriteBytes& write) {
    write(data.data(), data.size());
  });
}

}  // namespace ltcl::models
