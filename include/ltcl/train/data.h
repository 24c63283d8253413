#pragma once
// The data of a training config: the dataset kind (data/kinds.h) opened at
// data.root (or the kind's default), the training split long-tailed as
// configured and cached in memory, the test split optionally cut to
// data.test_per_class images per class.
#include <string>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/dataset.h"
#include "ltcl/train/config.h"

namespace ltcl::train {

struct DataSplits {
  data::DatasetPtr train;
  data::DatasetPtr test;
  // The validation set (data.validation; docs/datasets.md "Validation"):
  // disjoint from `train` and `test`; null with data.validation none.
  data::DatasetPtr val;
  std::string val_source;  // how `val` was made, for logs and metrics.json

  // The split named "train", "val" or "test" (the one place a split's name
  // maps to its dataset); throws ltcl::Error when it is unknown or absent
  // (no validation set).
  const data::DatasetPtr& at(const std::string& split) const;
};

// The three splits; throws ltcl::Error naming the file, folder or key at
// fault (also when the splits disagree on the classes).
DataSplits open_data(const DataConfig& config, const std::string& test_split);

// Data given in code without a validation set: with data.validation auto or
// holdout, a stratified data.val_fraction of `train` is held out (train
// shrinks); none leaves it; left_out / split need the config's data (an
// error naming the key).
DataSplits with_validation(DataSplits given, const DataConfig& config);

// The run's validation set as training made it (data.validation: left
// out, held out or the data's own split, with data.seed): what `ltcl eval
// --split val` and `ltcl adjust` evaluate. Opens the training data too.
// Throws ltcl::Error when the config has none (data.validation none).
data::DatasetPtr open_validation_set(const DataConfig& config);

// One evaluation split alone (what `ltcl eval` needs).
data::DatasetPtr open_test_split(
    const DataConfig& config,
    const std::string& split);

// Image size, channels and the kind's normalisation constants of `d`.
augment::DatasetStats dataset_stats(
    const DataConfig& config,
    const data::Dataset& d);

}  // namespace ltcl::train
