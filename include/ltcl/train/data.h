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
};

// Both splits; throws ltcl::Error naming the file, folder or key at fault
// (also when the two splits disagree on the classes).
DataSplits open_data(const DataConfig& config, const std::string& test_split);

// One evaluation split alone (what `ltcl eval` needs).
data::DatasetPtr open_test_split(
    const DataConfig& config,
    const std::string& split);

// Image size, channels and the kind's normalisation constants of `d`.
augment::DatasetStats dataset_stats(
    const DataConfig& config,
    const data::Dataset& d);

}  // namespace ltcl::train
