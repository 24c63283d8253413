#pragma once
// The dataset kinds a config can name (`data.dataset`), in one table: how
// each is stored (the open_dataset format), its default data folder, the
// class names of its IDX files and its normalisation constants. The config
// schema, the trainer and `DatasetStats` (augment/recipe.h) read it; nothing
// else knows dataset names.
//
//   const auto& k = ltcl::data::dataset_kind("fashion_mnist");
//   k.format        // "idx"
//   k.default_root  // "/usr/share/datasets/fashion-mnist" (Debian)
//
// Normalisation constants are the training sets' channel statistics as the
// reference code uses them; they are also found by their aliases
// (normalization_of("cifar10_lt")). Unknown names normalise with 0.5 / 0.5.
#include <string>
#include <vector>

namespace ltcl::data {

struct DatasetKind {
  std::string name;  // data.dataset
  std::string format;  // DatasetSpec::kind: idx | cifar10 | cifar100 | folder | list
  std::string default_root;  // empty: data.root must be given
  std::string idx_names = "auto";  // idx: auto | digits | fashion
  std::vector<float> mean;  // empty: 0.5 per channel
  std::vector<float> std;
  std::string help;  // one line, for listings
};

// Every kind, in a stable order.
const std::vector<DatasetKind>& dataset_kinds();
std::vector<std::string> dataset_kind_names();

// The kind called `name`; throws ltcl::Error listing the known kinds.
const DatasetKind& dataset_kind(const std::string& name);

struct Normalization {
  std::vector<float> mean;  // one entry per channel of the source set
  std::vector<float> std;
};

// The constants of a kind or one of its aliases (case-insensitive:
// "cifar10_lt", "imagenet", "places_lt", "inat2018", "fmnist", ...);
// mean 0.5, std 0.5 for any other name.
Normalization normalization_of(const std::string& name);

}  // namespace ltcl::data
