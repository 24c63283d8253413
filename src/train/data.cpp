#include "ltcl/train/data.h"

#include <filesystem>

#include "ltcl/data/cached.h"
#include "ltcl/data/kinds.h"
#include "ltcl/data/open.h"
#include "ltcl/util/error.h"

namespace ltcl::train {
namespace {

namespace fs = std::filesystem;

data::DatasetSpec spec_of(const DataConfig& c, const std::string& split) {
  const data::DatasetKind& kind = data::dataset_kind(c.dataset);
  data::DatasetSpec s;
  s.kind = kind.format;
  s.idx_names = kind.idx_names;
  s.root = c.root.empty() ? kind.default_root : c.root;
  s.split = split;
  if (s.root.empty()) {
    fail("data.root: dataset '{}' needs a data folder (data.root)", c.dataset);
  }
  if (kind.format == "list") {
    const std::string& list =
        split == c.train_split ? c.train_list : c.test_list;
    s.list_file = fs::path(list).is_absolute()
        ? list
        : (fs::path(s.root) / list).string();
  }
  return s;
}

// First k samples of each class, in dataset order.
data::DatasetPtr first_per_class(data::DatasetPtr d, int64_t k) {
  std::vector<int64_t> taken(static_cast<size_t>(d->num_classes()), 0);
  std::vector<size_t> keep;
  for (size_t i = 0; i < d->size(); ++i) {
    int64_t y = d->label(i);
    if (taken[y] < k) {
      ++taken[y];
      keep.push_back(i);
    }
  }
  return std::make_shared<data::Subset>(d, keep);
}

}  // namespace

data::DatasetPtr open_test_split(
    const DataConfig& c,
    const std::string& split) {
  auto test = data::open_dataset(spec_of(c, split));
  if (c.test_per_class > 0) {
    test = first_per_class(test, c.test_per_class);
  }
  return test;
}

DataSplits open_data(const DataConfig& c, const std::string& test_split) {
  auto train = data::open_dataset(spec_of(c, c.train_split));
  if (c.profile != "none" && c.imbalance_factor > 1) {
    data::LongTailSpec lt;
    lt.profile = c.profile;
    lt.imbalance_factor = c.imbalance_factor;
    lt.seed = static_cast<uint32_t>(c.seed);
    lt.n_max = static_cast<double>(c.n_max);
    train = data::make_long_tailed(train, lt);
  }
  auto test = open_test_split(c, test_split);
  if (c.cache) {
    train = std::make_shared<data::CachedDataset>(train);
  }
  if (test->num_classes() != train->num_classes()) {
    fail(
        "open_data - the test split has {} classes, the training split {}",
        test->num_classes(),
        train->num_classes());
  }
  return {train, test};
}

augment::DatasetStats dataset_stats(
    const DataConfig& c,
    const data::Dataset& d) {
  return augment::DatasetStats::of(c.dataset, d);
}

}  // namespace ltcl::train
