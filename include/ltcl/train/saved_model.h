#pragma once
// A trained model loaded back from a checkpoint, for evaluation, embedding
// export and inference: the network rebuilt from the saved config (with the
// method's modules attached, so every saved tensor has its place) and what
// the checkpoint records for inference (ModelInfo), so that nothing but the
// checkpoint -- and the images to run on -- is needed.
//
//   auto m = ltcl::train::load_saved_model("runs/x/best.pt", "cpu");
//   auto test = ltcl::train::open_test_split(m.config.data, "test");
//   auto report = ltcl::eval::evaluate_model(
//       *m.model, *test, m.eval_recipe(), 512, m.info.class_counts);
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "ltcl/augment/recipe.h"
#include "ltcl/train/config.h"

namespace ltcl::models {
class NetworkImpl;
}

namespace ltcl::train {

struct ModelInfo {
  std::vector<int64_t> class_counts;  // training images per class
  std::vector<std::string> class_names;
  augment::DatasetStats stats;  // input size, channels, mean / std

  std::string to_json() const;
  // Throws ltcl::Error (naming `source`) on a malformed text.
  static ModelInfo from_json(const std::string& text, const std::string& source);
};

struct SavedModel {
  Config config;  // as trained
  std::shared_ptr<models::NetworkImpl> model;  // eval mode, on `device`
  ModelInfo info;

  // The config's evaluation recipe for this model's inputs.
  augment::Recipe eval_recipe() const;
};

// An evaluation-time logit transform put on a trained model in place of
// the one its config saved (`ltcl eval / predict / export --adjust`):
// post-hoc logit adjustment or tau-normalisation of a CE model needs no
// retraining. Empty / unset fields keep the saved config's value.
struct AdjustOverride {
  std::string adjust;  // none | posthoc_la | tau_norm; empty: as saved
  double tau = -1;     // < 0: as saved
  int bias = -1;       // tau_norm_bias: 0 / 1; -1: as saved
};

// Loads `checkpoint` onto `device` (cpu | cuda | auto). A checkpoint written
// before ModelInfo existed takes it from the training data, which must then
// be present. `adjust` replaces the saved model.adjust keys (the returned
// config says what ran). Throws ltcl::Error naming the file, or the option
// for a transform the model cannot take (tau_norm on a cosine classifier).
SavedModel load_saved_model(
    const std::string& checkpoint,
    const std::string& device,
    const AdjustOverride& adjust = {});

// The device a config or command names: cpu, cuda (an error without one)
// or auto (cuda when present).
c10::Device pick_device(const std::string& name);

}  // namespace ltcl::train
