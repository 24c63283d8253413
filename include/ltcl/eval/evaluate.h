#pragma once
// Evaluation and embedding export of a model on a dataset: every image
// through the evaluation recipe, in batches, without gradient.
//
//   auto recipe = augment::make_recipe("eval", stats);
//   auto report = eval::evaluate_model(*model, *test, recipe, 512, counts);
//
// The model is put in eval mode for the pass and restored after.
#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/dataset.h"
#include "ltcl/eval/report.h"

namespace ltcl::models {
class NetworkImpl;
}

namespace ltcl::eval {

// Confusion, top-1, per-class and many / medium / few-shot accuracy of
// `model` on `data` (shot groups from the training set's `train_counts`),
// and the calibration of its softmax (ECE with 15 bins, NLL, top-5).
EvalReport evaluate_model(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts);

// The model's outputs for every sample of `data`, in order (CPU float32,
// row-major): logits [N, num_classes] and, with `embeddings`, backbone
// features and projections (empty without a projection head). Labels are
// not needed (ltcl predict runs it on unlabelled images).
struct ModelOutputs {
  std::vector<float> logits;
  int64_t num_classes = 0;
  std::vector<float> features;
  int64_t feature_dim = 0;
  std::vector<float> projections;
  int64_t projection_dim = 0;
};
ModelOutputs run_model(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    bool embeddings);

// evaluate_model's report plus every sample's backbone feature and
// projection (CPU float32, row-major; projections empty without a
// projection head) and label, for the embedding metrics and plots.
struct EmbeddedEval {
  EvalReport report;
  std::vector<float> features;
  int64_t feature_dim = 0;
  std::vector<float> projections;
  int64_t projection_dim = 0;
  std::vector<int64_t> labels;
};
EmbeddedEval evaluate_with_embeddings(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts);

// The RCL embedding metrics (eval/embedding_metrics.h) of `evaluated` in
// the projection and the backbone-feature space, as one JSON object
// {"projection": ..., "feature": ...}; class centroids from `reference`
// when given (the validation set), else from `evaluated` itself.
std::string embedding_spaces_json(
    const EmbeddedEval& evaluated,
    const EmbeddedEval* reference,
    const std::vector<int64_t>& train_counts,
    bool per_class);

// Writes label, backbone features and projections of every sample as a
// CSV (`label,f0..f{F-1},z0..z{D-1}`), loadable with
// numpy.loadtxt(path, delimiter=",", skiprows=1). Atomic.
void write_embeddings_csv(
    const std::string& path,
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size);

}  // namespace ltcl::eval
