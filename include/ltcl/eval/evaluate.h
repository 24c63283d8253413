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
// `model` on `data` (shot groups from the training set's `train_counts`).
EvalReport evaluate_model(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts);

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
