#pragma once
// Choosing an evaluation-time logit transform's tau on the validation set
// (METHODS.md section 8: tau-norm's tau "chosen on the validation set, never
// on test"; post-hoc LA's tau = 1 or chosen the same way), and writing a
// checkpoint that carries the choice (`ltcl adjust`), so that `ltcl eval`,
// `ltcl predict` and `ltcl export` of that file apply it.
#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/dataset.h"

namespace ltcl::models {
class NetworkImpl;
}

namespace ltcl::train {

struct TauSweep {
  std::string adjust;  // posthoc_la | tau_norm
  bool bias = false;   // tau_norm_bias
  std::vector<double> taus;
  std::vector<double> mean_class;  // mean per-class top-1 % on the set
  std::vector<double> top1;        // top-1 % on the set
  double best_tau = 0;             // the first tau of the best mean_class
  int64_t images = 0;
};

// One pass of `model` over the labelled set `data` (features kept), then
// for each tau of `taus` the transform's logits (models::Network's own
// adjusted_logits, so the formula is the one eval / predict / export run)
// and their mean per-class and overall top-1. `model`'s adjust options are
// restored afterwards. Throws ltcl::Error on an empty grid, a negative or
// non-finite tau, an unknown transform.
TauSweep sweep_tau(
    models::NetworkImpl& model,
    const std::string& adjust,
    bool bias,
    const std::vector<int64_t>& train_counts,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<double>& taus);

// 0, 0.1, ..., 2: the grid of METHODS.md section 8.
std::vector<double> default_tau_grid();

// Writes the model of checkpoint `source` as a new checkpoint `out` whose
// config has model.adjust / adjust_tau / tau_norm_bias set (the rest of
// the file as it was, without optimizer state: a model to evaluate,
// predict with and export, not a point to resume training from).
void write_adjusted_checkpoint(
    const std::string& source,
    const std::string& out,
    const std::string& adjust,
    double tau,
    bool bias);

// The same for NCM (METHODS.md section 8): one pass over the run's training
// images (opened from the checkpoint's config, as the run made them, under
// its evaluation views, on `device`) gives the mean feature and each class's
// mean of the centred, L2-normalised features; both are stored with the
// checkpoint (records tensor/ncm_mean, tensor/ncm_centroids) and
// load_saved_model gives them to the model. Returns the images used.
// Throws ltcl::Error when a class has no image.
int64_t write_ncm_checkpoint(
    const std::string& source,
    const std::string& out,
    const std::string& device = "cpu");

}  // namespace ltcl::train
