#include "ltcl/data/validation.h"

#include <cmath>

#include "ltcl/data/long_tail.h"
#include "ltcl/util/error.h"

namespace ltcl::data {
namespace {

void check_labels(const std::vector<int64_t>& labels, int64_t num_classes) {
  if (num_classes < 1) {
    fail("validation split - num_classes must be >= 1: {{got {}}}", num_classes);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      fail(
          "validation split - label of sample {} outside [0, {}): {{got {}}}",
          i,
          num_classes,
          labels[i]);
    }
  }
}

}  // namespace

HeldOut validation_from_left_out(
    const std::vector<int64_t>& base_labels,
    const std::vector<size_t>& kept,
    int64_t num_classes,
    int64_t per_class,
    uint32_t seed) {
  if (per_class < 1) {
    fail("validation split - per_class must be >= 1: {{got {}}}", per_class);
  }
  check_labels(base_labels, num_classes);
  const size_t n = base_labels.size();
  std::vector<char> in_train(n, 0);
  for (size_t k : kept) {
    if (k >= n) {
      fail(
          "validation split - training index {} outside the split of {} "
          "samples",
          k,
          n);
    }
    if (in_train[k]) {
      fail("validation split - training index {} selected twice", k);
    }
    in_train[k] = 1;
  }
  const auto C = static_cast<size_t>(num_classes);
  std::vector<std::vector<size_t>> left(C), train_of(C);
  for (size_t i = 0; i < n; ++i) {
    if (!in_train[i]) {
      left[static_cast<size_t>(base_labels[i])].push_back(i);
    }
  }
  for (size_t k : kept) {
    train_of[static_cast<size_t>(base_labels[k])].push_back(k);
  }
  HeldOut out;
  out.from_train.assign(C, 0);
  NumpyRandomState rng(seed);
  std::vector<char> moved(n, 0);
  const auto want = static_cast<size_t>(per_class);
  for (size_t c = 0; c < C; ++c) {
    rng.shuffle(left[c]);
    const size_t take = std::min(want, left[c].size());
    out.val.insert(out.val.end(), left[c].begin(), left[c].begin() + take);
    const size_t short_by = want - take;
    if (short_by == 0) {
      continue;
    }
    if (short_by >= train_of[c].size()) {
      fail(
          "validation split - class {} has {} left-out and {} training "
          "images: {} validation images would leave it no training image "
          "(lower data.val_per_class)",
          c,
          left[c].size(),
          train_of[c].size(),
          per_class);
    }
    // The last images of the class's (shuffled) selection move over.
    for (size_t j = train_of[c].size() - short_by; j < train_of[c].size();
         ++j) {
      moved[train_of[c][j]] = 1;
      out.val.push_back(train_of[c][j]);
    }
    out.from_train[c] = static_cast<int64_t>(short_by);
  }
  out.train.reserve(kept.size());
  for (size_t k : kept) {
    if (!moved[k]) {
      out.train.push_back(k);
    }
  }
  return out;
}

HeldOut stratified_holdout(
    const std::vector<int64_t>& labels,
    int64_t num_classes,
    double fraction,
    uint32_t seed) {
  if (!(fraction > 0 && fraction < 1)) {
    fail("validation split - fraction must be in (0, 1): {{got {}}}", fraction);
  }
  check_labels(labels, num_classes);
  const auto C = static_cast<size_t>(num_classes);
  std::vector<std::vector<size_t>> of(C);
  for (size_t i = 0; i < labels.size(); ++i) {
    of[static_cast<size_t>(labels[i])].push_back(i);
  }
  NumpyRandomState rng(seed);
  std::vector<char> held(labels.size(), 0);
  HeldOut out;
  out.from_train.assign(C, 0);
  for (size_t c = 0; c < C; ++c) {
    const size_t n_c = of[c].size();
    auto k = static_cast<size_t>(std::llround(fraction * static_cast<double>(n_c)));
    if (n_c >= 2) {
      k = std::max<size_t>(k, 1);
    }
    k = std::min(k, n_c > 0 ? n_c - 1 : 0);
    rng.shuffle(of[c]);
    for (size_t j = 0; j < k; ++j) {
      held[of[c][j]] = 1;
      out.val.push_back(of[c][j]);
    }
    out.from_train[c] = static_cast<int64_t>(k);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!held[i]) {
      out.train.push_back(i);
    }
  }
  return out;
}

}  // namespace ltcl::data
