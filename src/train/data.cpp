#include "ltcl/train/data.h"

#include <filesystem>

#include <fmt/format.h>

#include "ltcl/data/cached.h"
#include "ltcl/data/kinds.h"
#include "ltcl/data/open.h"
#include "ltcl/data/validation.h"
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
    if (!c.names_file.empty()) {
      s.names_file = fs::path(c.names_file).is_absolute()
          ? c.names_file
          : (fs::path(s.root) / c.names_file).string();
    }
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

data::DatasetPtr open_validation_set(const DataConfig& c) {
  if (c.validation == "none") {
    fail(
        "this run has no validation set (data.validation none): evaluate "
        "the test split");
  }
  auto d = open_data(c, c.test_split);
  if (!d.val) {
    fail("data.validation {}: no validation set was made", c.validation);
  }
  return d.val;
}

data::DatasetPtr open_test_split(
    const DataConfig& c,
    const std::string& split) {
  auto test = data::open_dataset(spec_of(c, split));
  if (c.test_per_class > 0) {
    test = first_per_class(test, c.test_per_class);
  }
  return test;
}

namespace {

bool has_split(const DataConfig& c, const data::DatasetKind& kind) {
  if (kind.format == "list") {
    return !c.val_list.empty();
  }
  if (kind.format == "folder") {
    std::error_code ec;
    const std::string root = c.root.empty() ? kind.default_root : c.root;
    return fs::is_directory(fs::path(root) / c.val_split, ec);
  }
  return false;
}

data::DatasetPtr open_val_split(const DataConfig& c) {
  const data::DatasetKind& kind = data::dataset_kind(c.dataset);
  if (kind.format != "list" && kind.format != "folder") {
    fail(
        "data.validation: split - dataset kind '{}' has no validation split; "
        "use left_out (long-tailed selections) or holdout",
        c.dataset);
  }
  data::DatasetSpec s = spec_of(c, c.train_split);
  s.split = c.val_split;
  if (kind.format == "list") {
    if (c.val_list.empty()) {
      fail("data.validation: split - list kinds need data.val_list");
    }
    s.list_file = fs::path(c.val_list).is_absolute()
        ? c.val_list
        : (fs::path(s.root) / c.val_list).string();
  } else {
    std::error_code ec;
    if (!fs::is_directory(fs::path(s.root) / c.val_split, ec)) {
      fail(
          "data.validation: split - no validation folder {} (data.val_split)",
          (fs::path(s.root) / c.val_split).string());
    }
  }
  return data::open_dataset(s);
}

std::string per_class_text(const std::vector<int64_t>& v) {
  int64_t total = 0;
  for (auto x : v) {
    total += x;
  }
  return std::to_string(total);
}

DataSplits holdout(DataSplits d, const DataConfig& c) {
  const auto h = data::stratified_holdout(
      d.train->labels(), d.train->num_classes(), c.val_fraction,
      static_cast<uint32_t>(c.seed));
  auto base = d.train;
  d.train = std::make_shared<data::Subset>(base, h.train);
  d.val = std::make_shared<data::Subset>(base, h.val);
  d.val_source = fmt::format(
      "holdout: {} of each training class ({} images held out)",
      c.val_fraction, per_class_text(h.from_train));
  return d;
}

void check_classes(const DataSplits& d) {
  auto check = [&](const data::DatasetPtr& x, const char* name) {
    if (x && x->num_classes() != d.train->num_classes()) {
      fail(
          "open_data - the {} split has {} classes, the training split {}",
          name,
          x->num_classes(),
          d.train->num_classes());
    }
  };
  check(d.test, "test");
  check(d.val, "validation");
}

}  // namespace

const data::DatasetPtr& DataSplits::at(const std::string& split) const {
  const data::DatasetPtr* d = split == "train" ? &train
      : split == "val"                         ? &val
      : split == "test"                        ? &test
                                               : nullptr;
  if (d == nullptr) {
    fail("no split '{}' (train, val, test)", split);
  }
  if (!*d) {
    fail(
        "no {} set{}",
        split,
        split == "val" ? " (data.validation none, or data given without one)"
                       : "");
  }
  return *d;
}

DataSplits open_data(const DataConfig& c, const std::string& test_split) {
  const data::DatasetKind& kind = data::dataset_kind(c.dataset);
  auto base = data::open_dataset(spec_of(c, c.train_split));
  DataSplits d;
  d.train = base;
  bool long_tailed = false;
  if (c.profile != "none" && c.imbalance_factor > 1) {
    data::LongTailSpec lt;
    lt.profile = c.profile;
    lt.imbalance_factor = c.imbalance_factor;
    lt.seed = static_cast<uint32_t>(c.seed);
    lt.n_max = static_cast<double>(c.n_max);
    d.train = data::make_long_tailed(base, lt);
    long_tailed = d.train != base;
  }
  std::string mode = c.validation;
  if (mode == "auto") {
    mode = long_tailed ? "left_out" : has_split(c, kind) ? "split" : "holdout";
  }
  if (mode == "left_out") {
    auto* kept = dynamic_cast<const data::Subset*>(d.train.get());
    if (!long_tailed || kept == nullptr) {
      fail(
          "data.validation: left_out needs a long-tailed selection "
          "(data.profile exp/step and data.imbalance_factor > 1); use split "
          "or holdout");
    }
    const auto h = data::validation_from_left_out(
        base->labels(), kept->indices(), base->num_classes(), c.val_per_class,
        static_cast<uint32_t>(c.seed));
    d.train = std::make_shared<data::Subset>(base, h.train);
    d.val = std::make_shared<data::Subset>(base, h.val);
    std::string moved;
    for (size_t k = 0; k < h.from_train.size(); ++k) {
      if (h.from_train[k] > 0) {
        moved += fmt::format(
            "{}{} of '{}'", moved.empty() ? "" : ", ", h.from_train[k],
            base->class_names()[k]);
      }
    }
    d.val_source = fmt::format(
        "left_out: {} per class from the images the long-tail selection "
        "left out{}",
        c.val_per_class,
        moved.empty() ? std::string()
                      : fmt::format(
                            " ({} taken from the training selection)", moved));
  } else if (mode == "split") {
    d.val = open_val_split(c);
    d.val_source = fmt::format(
        "split: {}",
        data::dataset_kind(c.dataset).format == "list" ? c.val_list
                                                        : c.val_split);
  } else if (mode == "holdout") {
    d = holdout(std::move(d), c);
  }
  d.test = open_test_split(c, test_split);
  if (c.cache) {
    d.train = std::make_shared<data::CachedDataset>(d.train);
    if (d.val) {
      d.val = std::make_shared<data::CachedDataset>(d.val);
    }
  }
  check_classes(d);
  return d;
}

DataSplits with_validation(DataSplits given, const DataConfig& c) {
  if (given.val || c.validation == "none") {
    if (given.val && given.val_source.empty()) {
      given.val_source = "given";
    }
    return given;
  }
  if (c.validation != "auto" && c.validation != "holdout") {
    fail(
        "data.validation: '{}' needs the config's data; data given in code "
        "takes DataSplits::val, holdout or none",
        c.validation);
  }
  auto d = holdout(std::move(given), c);
  check_classes(d);
  return d;
}

augment::DatasetStats dataset_stats(
    const DataConfig& c,
    const data::Dataset& d) {
  auto s = augment::DatasetStats::of(
      c.normalization.empty() ? c.dataset : c.normalization, d);
  if (c.image_size > 0) {
    s.image_size = static_cast<int>(c.image_size);
    s.height = s.width = s.image_size;
  }
  if (!c.mean.empty()) {
    if (c.mean.size() != 1 && static_cast<int>(c.mean.size()) != s.channels) {
      fail(
          "data.mean / data.std - {} values for images of {} channels "
          "(give 1 or {})",
          c.mean.size(),
          s.channels,
          s.channels);
    }
    s.mean.clear();
    s.std.clear();
    for (int ch = 0; ch < s.channels; ++ch) {
      const size_t k = c.mean.size() == 1 ? 0 : static_cast<size_t>(ch);
      s.mean.push_back(static_cast<float>(c.mean[k]));
      s.std.push_back(static_cast<float>(c.std[k]));
    }
  }
  return s;
}

}  // namespace ltcl::train
