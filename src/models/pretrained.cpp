#include "ltcl/models/pretrained.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include "ltcl/models/network.h"
#include "ltcl/util/error.h"

namespace ltcl::models {
namespace {

// Re-saves any state dict torch.load reads as a plain dict of the zip format.
constexpr const char* kResave =
    "python -c \"import torch, sys; torch.save(dict(torch.load(sys.argv[1], "
    "map_location='cpu')), sys.argv[2])\" OLD.pth NEW.pt";

std::string shape_text(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return s + "]";
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

std::map<std::string, at::Tensor> read_state_dict(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    fail("model.pretrained: no file '{}'", path);
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes(
      (std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    fail("model.pretrained: cannot read '{}'", path);
  }
  if (bytes.size() >= 8 && std::equal(bytes.begin(), bytes.begin() + 8,
                                      "LTCLCKPT")) {
    fail(
        "model.pretrained: '{}' is an ltcl checkpoint, not a PyTorch state "
        "dict (in Python, python/ltcl_checkpoint.py reads its weights and "
        "torch.save(dict(...)) writes them as one; or continue that run "
        "with --resume)",
        path);
  }
  // torch.save's zip format starts with a zip local-file header.
  if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K') {
    fail(
        "model.pretrained: '{}' is not a PyTorch >= 1.6 state dict (zip "
        "format); a file of the legacy format (e.g. torchvision's .pth "
        "downloads) can be re-saved with: {}",
        path,
        kResave);
  }
  // LibTorch's unpickler cannot build a collections.OrderedDict (what
  // model.state_dict() returns); torch.save stores the pickle uncompressed,
  // so its class name is in the bytes.
  const std::string ordered = "collections\nOrderedDict";
  const bool is_ordered =
      std::search(bytes.begin(), bytes.end(), ordered.begin(), ordered.end()) !=
      bytes.end();
  c10::IValue v;
  try {
    v = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    if (is_ordered) {
      fail(
          "model.pretrained: '{}' holds an OrderedDict (model.state_dict() "
          "as saved), which LibTorch cannot read; re-save it as a plain dict "
          "with: {}",
          path,
          kResave);
    }
    fail(
        "model.pretrained: '{}' could not be read as a state dict: {}", path,
        first_line(e.what()));
  }
  if (!v.isGenericDict()) {
    fail(
        "model.pretrained: '{}' holds a {}, not a state dict (a dict of "
        "name -> tensor, e.g. torch.save(model.state_dict(), path))",
        path,
        v.tagKind());
  }
  std::map<std::string, at::Tensor> out;
  for (const auto& kv : v.toGenericDict()) {
    if (kv.key().isString() && kv.value().isTensor()) {
      out[kv.key().toStringRef()] = kv.value().toTensor();
    }
  }
  return out;
}

const at::Tensor* find(
    const std::map<std::string, at::Tensor>& dict,
    const std::string& name) {
  for (const char* prefix : {"", "backbone.", "module.", "module.backbone."}) {
    auto it = dict.find(prefix + name);
    if (it != dict.end()) {
      return &it->second;
    }
  }
  return nullptr;
}

}  // namespace

int64_t load_pretrained_backbone(NetworkImpl& net, const std::string& path) {
  const auto dict = read_state_dict(path);
  std::shared_ptr<torch::nn::Module> backbone;
  for (const auto& kv : net.named_children()) {
    if (kv.key() == "backbone") {
      backbone = kv.value();
    }
  }
  if (!backbone) {
    fail("load_pretrained_backbone - the network has no backbone module");
  }
  // Check everything first, so a bad file leaves the network untouched.
  std::vector<std::pair<at::Tensor, const at::Tensor*>> copies;
  std::vector<std::string> missing;
  auto plan = [&](const std::string& name, const at::Tensor& target) {
    const at::Tensor* src = find(dict, name);
    if (!src) {
      missing.push_back(name);
      return;
    }
    if (src->sizes() != target.sizes()) {
      fail(
          "model.pretrained: '{}': tensor '{}' has shape {}, the backbone "
          "({}) needs {}",
          path, name, shape_text(src->sizes()), net.options.arch(),
          shape_text(target.sizes()));
    }
    copies.emplace_back(target, src);
  };
  for (const auto& kv : backbone->named_parameters(true)) {
    plan(kv.key(), kv.value());
  }
  for (const auto& kv : backbone->named_buffers(true)) {
    plan(kv.key(), kv.value());
  }
  if (!missing.empty()) {
    fail(
        "model.pretrained: '{}' lacks {} of the {} tensors of backbone '{}' "
        "(first: '{}'; the file has {} tensors, e.g. '{}')",
        path, missing.size(), copies.size() + missing.size(),
        net.options.arch(), missing.front(), dict.size(),
        dict.empty() ? std::string() : dict.begin()->first);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, src] : copies) {
    target.copy_(src->to(target.device(), target.scalar_type()));
  }
  return static_cast<int64_t>(copies.size());
}

}  // namespace ltcl::models
