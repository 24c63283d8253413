#include "ltcl/train/saved_model.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/data.h"
#include "ltcl/train/method.h"
#include "ltcl/util/error.h"

namespace ltcl::train {

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

ModelInfo ModelInfo::from_json(
    const std::string& text,
    const std::string& source) {
  ModelInfo m;
  try {
    auto j = nlohmann::json::parse(text);
    m.class_counts = j.at("class_counts").get<std::vector<int64_t>>();
    m.class_names = j.at("class_names").get<std::vector<std::string>>();
    const auto& s = j.at("stats");
    m.stats.name = s.at("name").get<std::string>();
    m.stats.height = s.at("height").get<int>();
    m.stats.width = s.at("width").get<int>();
    m.stats.channels = s.at("channels").get<int>();
    m.stats.mean = s.at("mean").get<std::vector<float>>();
    m.stats.std = s.at("std").get<std::vector<float>>();
    // Absent in checkpoints written before data.image_size existed.
    m.stats.image_size = s.value("image_size", 0);
  } catch (const nlohmann::json::exception& e) {
    fail("ModelInfo - {}: malformed model_info: {}", source, e.what());
  }
  if (m.class_counts.size() != m.class_names.size() ||
      m.class_counts.empty()) {
    fail(
        "ModelInfo - {}: {} class counts but {} class names",
        source,
        m.class_counts.size(),
        m.class_names.size());
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
    const std::string& device) {
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
  auto method = make_method(m.config);
  auto net = build_network(m.config, m.info.stats.channels,
                           static_cast<int64_t>(m.info.class_counts.size()),
                           *method);
  auto dev = pick_device(device);
  net->to(dev);
  load_checkpoint(checkpoint, net.get(), nullptr, dev);
  net->eval();
  m.model = net;
  return m;
}

}  // namespace ltcl::train
