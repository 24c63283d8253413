#include "ltcl/train/stages.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

#include <fstream>
#include <vector>

#include "ltcl/models/network.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/util/error.h"

namespace ltcl::train {
namespace {

bool in_part(const std::string& name, const std::string& parts) {
  auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (parts == "all") {
    return true;
  }
  if (parts == "backbone_classifier") {
    return starts("backbone.") || starts("linear.") || starts("cosine.");
  }
  return starts("backbone.");
}

}  // namespace

uint32_t file_crc32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail("cannot read '{}' for its checksum", path);
  }
  uLong c = crc32_z(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n > 0) {
      c = crc32_z(c, reinterpret_cast<const Bytef*>(buf.data()),
                  static_cast<z_size_t>(n));
    }
  }
  if (in.bad()) {
    fail("error reading '{}' for its checksum", path);
  }
  return static_cast<uint32_t>(c);
}

InitFromReport init_from_checkpoint(
    models::NetworkImpl& model,
    const std::string& path,
    const std::string& parts) {
  if (parts != "backbone" && parts != "backbone_classifier" && parts != "all") {
    fail(
        "model.init_from_parts: expected backbone, backbone_classifier or "
        "all: {{got '{}'}}",
        parts);
  }
  InitFromReport r;
  r.path = path;
  r.parts = parts;
  r.crc32 = file_crc32(path);
  auto source = load_saved_model(path, "cpu");
  auto src_params = source.model->named_parameters();
  auto src_buffers = source.model->named_buffers();

  struct Pair {
    std::string name;
    torch::Tensor dst, src;
  };
  std::vector<Pair> pairs;
  std::vector<std::string> problems;
  auto collect = [&](const torch::OrderedDict<std::string, torch::Tensor>& dst,
                     const torch::OrderedDict<std::string, torch::Tensor>& src,
                     const char* what) {
    for (const auto& kv : dst) {
      if (!in_part(kv.key(), parts)) {
        continue;
      }
      const auto* s = src.find(kv.key());
      if (s == nullptr) {
        problems.push_back(fmt::format("{} '{}' missing", what, kv.key()));
      } else if (s->sizes() != kv.value().sizes()) {
        problems.push_back(fmt::format(
            "{} '{}' is [{}] there, [{}] here",
            what,
            kv.key(),
            fmt::join(s->sizes(), ", "),
            fmt::join(kv.value().sizes(), ", ")));
      } else {
        pairs.push_back({kv.key(), kv.value(), *s});
      }
    }
  };
  collect(model.named_parameters(), src_params, "parameter");
  collect(model.named_buffers(), src_buffers, "buffer");
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 8);
    fail(
        "model.init_from '{}' ({} arch {}): {} of the model's {} tensors do "
        "not match, nothing copied: {}{}",
        path,
        parts,
        source.config.model.arch,
        problems.size(),
        pairs.size() + problems.size(),
        fmt::join(problems.begin(), problems.begin() + static_cast<long>(shown), "; "),
        problems.size() > shown ? "; ..." : "");
  }
  if (pairs.empty()) {
    fail("model.init_from '{}': the model has no {} tensor to copy", path, parts);
  }
  torch::NoGradGuard no_grad;
  for (auto& p : pairs) {
    p.dst.copy_(p.src.to(p.dst.device(), p.dst.scalar_type()));
  }
  r.tensors = static_cast<int64_t>(pairs.size());
  return r;
}

int64_t freeze_parts(models::NetworkImpl& model, const std::string& parts) {
  if (parts != "backbone" && parts != "backbone_classifier") {
    fail(
        "model.freeze: expected backbone or backbone_classifier: {{got "
        "'{}'}}",
        parts);
  }
  int64_t n = 0;
  for (auto& kv : model.named_parameters()) {
    if (in_part(kv.key(), parts)) {
      kv.value().set_requires_grad(false);
      ++n;
    }
  }
  if (n == 0) {
    fail("model.freeze {}: the model has no such parameter", parts);
  }
  return n;
}

}  // namespace ltcl::train
