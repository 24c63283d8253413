#include "ltcl/train/saved_model.h"

#include <nlohmann/json.hpp>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <algorithm>

#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/data.h"
#include "ltcl/train/method.h"
#include "ltcl/train/precision.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"

namespace ltcl::train {
namespace {

// A class name in a checkpoint (names files allow long lines; no real name
// comes near this).
constexpr size_t kMaxClassNameBytes = 4096;

}  // namespace

std::string ModelInfo::to_json() const {
  nlohmann::json j;
  j["class_counts"] = class_counts;
  j["class_names"] = class_names;
  j["stats"] = {
      {"name", stats.name},
      {"height", stats.height},
      {"width", stats.width},
      {"channels", stats.channels},
      {"mean", stats.mean},
      {"std", stats.std},
      {"image_size", stats.image_size}};
  return j.dump();
}

// Every value is checked like the config value or dataset property it came
// from (a checkpoint's table is input like any file): errors name the
// file and the field, and no value can make a reader allocate without bound.
ModelInfo ModelInfo::from_json(
    const std::string& text,
    const std::string& source) {
  auto bad = [&](const char* field, const std::string& why) {
    fail("ModelInfo - '{}': field 'model_info.{}' {}", source, field, why);
  };
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    fail("ModelInfo - '{}': field 'model_info' is not a JSON object", source);
  }
  auto member = [&](const nlohmann::json& o, const char* key,
                    const char* field) -> const nlohmann::json& {
    auto it = o.find(key);
    if (it == o.end()) {
      bad(field, "is missing");
    }
    return *it;
  };
  auto integer = [&](const nlohmann::json& o, const char* key,
                     const char* field, int64_t lo, int64_t hi) {
    const auto& v = member(o, key, field);
    if (!v.is_number_integer() || v.get<int64_t>() < lo ||
        v.get<int64_t>() > hi) {
      bad(field, fmt::format("must be an integer in [{}, {}]: got {}", lo, hi,
                             printable(v.dump())));
    }
    return v.get<int64_t>();
  };
  ModelInfo m;
  const auto& counts = member(j, "class_counts", "class_counts");
  if (!counts.is_array() || counts.empty() ||
      static_cast<int64_t>(counts.size()) > limits::kMaxClasses) {
    bad("class_counts",
        fmt::format("must list 1 to {} classes", limits::kMaxClasses));
  }
  for (const auto& c : counts) {
    if (!c.is_number_integer() || c.get<int64_t>() < 0) {
      bad("class_counts", fmt::format("holds {}, not a count of images",
                                      printable(c.dump())));
    }
    m.class_counts.push_back(c.get<int64_t>());
  }
  const auto& names = member(j, "class_names", "class_names");
  if (!names.is_array() || names.size() != counts.size()) {
    bad("class_names",
        fmt::format("must list one name per class ({})", counts.size()));
  }
  for (const auto& n : names) {
    if (!n.is_string() || n.get<std::string>().empty() ||
        n.get<std::string>().size() > kMaxClassNameBytes) {
      bad("class_names",
          fmt::format("holds {}, not a name of 1 to {} bytes",
                      printable(n.dump()), kMaxClassNameBytes));
    }
    m.class_names.push_back(n.get<std::string>());
  }
  const auto& s = member(j, "stats", "stats");
  if (!s.is_object()) {
    bad("stats", "is not an object");
  }
  const auto& name = member(s, "name", "stats.name");
  if (!name.is_string() || name.get<std::string>().size() > 256) {
    bad("stats.name", "is not a dataset name");
  }
  m.stats.name = name.get<std::string>();
  // An image side as the image readers allow it (limits::kMaxImagePixels
  // is 8192 x 8192): the evaluation of a small-image model runs at it.
  constexpr int64_t kMaxSide = 8192;
  static_assert(kMaxSide * kMaxSide == limits::kMaxImagePixels);
  m.stats.height =
      static_cast<int>(integer(s, "height", "stats.height", 1, kMaxSide));
  m.stats.width =
      static_cast<int>(integer(s, "width", "stats.width", 1, kMaxSide));
  m.stats.channels =
      static_cast<int>(integer(s, "channels", "stats.channels", 1, 3));
  if (m.stats.channels == 2) {
    bad("stats.channels", "must be 1 or 3: got 2");
  }
  // As data.mean / data.std (src/train/config/data.cpp), one per channel.
  auto values = [&](const char* key, const char* field, double lo,
                    double hi) {
    const auto& v = member(s, key, field);
    if (!v.is_array() || static_cast<int>(v.size()) != m.stats.channels) {
      bad(field, fmt::format("must hold one value per channel ({})",
                             m.stats.channels));
    }
    std::vector<float> out;
    for (const auto& x : v) {
      if (!x.is_number() || !(x.get<double>() >= lo) ||
          !(x.get<double>() <= hi)) {
        bad(field, fmt::format("values must be in [{}, {}]: got {}", lo, hi,
                               printable(x.dump())));
      }
      out.push_back(x.get<float>());
    }
    return out;
  };
  m.stats.mean = values("mean", "stats.mean", -1, 2);
  m.stats.std = values("std", "stats.std", 1e-6, 10);
  // Absent in checkpoints written before data.image_size existed; else as
  // data.image_size: 0 or [8, 4096].
  if (s.contains("image_size")) {
    m.stats.image_size = static_cast<int>(
        integer(s, "image_size", "stats.image_size", 0, 4096));
    if (m.stats.image_size != 0 && m.stats.image_size < 8) {
      bad("stats.image_size",
          fmt::format("must be 0 or in [8, 4096]: got {}",
                      m.stats.image_size));
    }
  }
  return m;
}

augment::Recipe SavedModel::eval_recipe() const {
  return augment::make_recipe(config.data.eval_recipe, info.stats);
}

c10::Device pick_device(const std::string& name) {
  if (name == "cpu") {
    return torch::kCPU;
  }
  const bool cuda = torch::cuda::is_available();
  if (name == "cuda" && !cuda) {
    fail("device 'cuda': this build or machine has no CUDA device");
  }
  if (name != "cuda" && name != "auto") {
    fail("device: got '{}', expected cpu, cuda or auto", name);
  }
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

SavedModel load_saved_model(
    const std::string& checkpoint,
    const std::string& device,
    const AdjustOverride& adjust) {
  SavedModel m;
  auto meta = load_checkpoint(checkpoint, nullptr, nullptr);
  m.config = parse_config(meta.config_yaml, checkpoint + " (saved config)");
  if (!meta.model_info.empty()) {
    m.info = ModelInfo::from_json(meta.model_info, checkpoint);
  } else {
    // Written before checkpoints carried ModelInfo: the training data tells.
    auto data = open_data(m.config.data, m.config.data.test_split);
    m.info.class_counts = data.train->class_counts();
    m.info.class_names = data.train->class_names();
    m.info.stats = dataset_stats(m.config.data, *data.train);
  }
  if (!adjust.adjust.empty()) {
    const auto& names = models::adjust_names();
    if (std::find(names.begin(), names.end(), adjust.adjust) == names.end()) {
      fail(
          "--adjust: expected one of {}: {{got '{}'}}",
          fmt::join(names, ", "),
          adjust.adjust);
    }
    m.config.model.adjust = adjust.adjust;
  }
  if (adjust.tau >= 0) {
    if (!std::isfinite(adjust.tau) || adjust.tau > 100) {
      fail("--adjust-tau: expected 0 .. 100: {{got {}}}", adjust.tau);
    }
    m.config.model.adjust_tau = adjust.tau;
  }
  if (adjust.bias >= 0) {
    m.config.model.tau_norm_bias = adjust.bias != 0;
  }
  if (m.config.model.adjust == "tau_norm" &&
      m.config.model.classifier != "linear") {
    fail(
        "--adjust tau_norm: '{}' has a {} classifier; tau_norm needs a "
        "linear one",
        checkpoint,
        m.config.model.classifier);
  }
  auto method = make_method(m.config);
  auto net =
      build_network(m.config, m.info.stats.channels, m.info.class_counts, *method);
  auto dev = pick_device(device);
  net->to(dev);
  load_checkpoint(checkpoint, net.get(), nullptr, dev);
  // ltcl never writes a non-finite tensor (save_checkpoint refuses): such
  // a file was altered, and its model's outputs would be NaN.
  auto non_finite = [](const at::Tensor& t) {
    return t.is_floating_point() && !torch::isfinite(t).all().item<bool>();
  };
  for (const auto& p : net->named_parameters()) {
    if (non_finite(p.value())) {
      fail(
          "load_saved_model - '{}': parameter '{}' holds NaN or infinite "
          "values; the model cannot be used",
          checkpoint,
          p.key());
    }
  }
  for (const auto& b : net->named_buffers()) {
    if (non_finite(b.value())) {
      fail(
          "load_saved_model - '{}': buffer '{}' holds NaN or infinite "
          "values; the model cannot be used",
          checkpoint,
          b.key());
    }
  }
  if (m.config.model.adjust == "ncm") {
    auto mean = meta.tensors.find("ncm_mean");
    auto centroids = meta.tensors.find("ncm_centroids");
    if (mean == meta.tensors.end() || centroids == meta.tensors.end()) {
      fail(
          "--adjust ncm: '{}' holds no class centroids; compute them with "
          "ltcl adjust --checkpoint {} --adjust ncm --out FILE",
          checkpoint,
          checkpoint);
    }
    net->set_ncm(mean->second, centroids->second);
  }
  // In the memory format the run trained and evaluated in (config.yaml
  // records it resolved): the kernels, hence the rounding, are the
  // training's, so `ltcl eval` / `predict` give the run's report exactly.
  if (m.config.train.channels_last == "true") {
    Precision("none", /*channels_last=*/true, dev).prepare(*net);
  }
  net->eval();
  m.model = net;
  return m;
}

}  // namespace ltcl::train
