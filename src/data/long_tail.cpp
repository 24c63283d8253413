#include "ltcl/data/long_tail.h"

#include <cmath>

#include "ltcl/util/error.h"

namespace ltcl::data {

uint64_t NumpyRandomState::random_interval(uint64_t max) {
  if (max == 0) {
    return 0;
  }
  // Smallest all-ones mask covering max.
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t value = 0;
  if (max <= 0xffffffffULL) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    while ((value = (next_uint64() & mask)) > max) {
    }
  }
  return value;
}

std::vector<int64_t> long_tail_counts(
    int64_t num_classes,
    double n_max,
    double imbalance_factor,
    const std::string& profile) {
  if (num_classes < 1) {
    fail("long_tail_counts - need at least one class: {{got {}}}", num_classes);
  }
  if (!(n_max >= 0) || !std::isfinite(n_max)) {
    fail("long_tail_counts - n_max must be >= 0: {{got {}}}", n_max);
  }
  if (!(imbalance_factor >= 1) || !std::isfinite(imbalance_factor)) {
    fail(
        "long_tail_counts - imbalance factor must be >= 1: {{got {}}}",
        imbalance_factor);
  }
  // The reference is called with imb_factor = 0.01 for IF 100; 1.0 / 100.0
  // is the same double as the literal 0.01 (both correctly rounded).
  const double imb = 1.0 / imbalance_factor;
  std::vector<int64_t> counts(num_classes);
  if (profile == "exp") {
    for (int64_t c = 0; c < num_classes; ++c) {
      // C == 1: Python would divide by zero; a single class keeps n_max.
      const double e = num_classes == 1
                           ? 0.0
                           : static_cast<double>(c) /
                                 (static_cast<double>(num_classes) - 1.0);
      counts[c] = static_cast<int64_t>(n_max * std::pow(imb, e));
    }
  } else if (profile == "step") {
    for (int64_t c = 0; c < num_classes; ++c) {
      counts[c] = c < num_classes / 2 ? static_cast<int64_t>(n_max)
                                      : static_cast<int64_t>(n_max * imb);
    }
  } else {
    fail(
        "long_tail_counts - unknown profile: {{got '{}', want exp|step}}",
        profile);
  }
  return counts;
}

std::vector<size_t> select_long_tail(
    const std::vector<int64_t>& labels,
    int64_t num_classes,
    const std::vector<int64_t>& counts,
    uint32_t seed) {
  if (static_cast<int64_t>(counts.size()) != num_classes) {
    fail(
        "select_long_tail - one count per class needed: {{got {} counts, {} "
        "classes}}",
        counts.size(),
        num_classes);
  }
  std::vector<std::vector<size_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t y = labels[i];
    if (y < 0 || y >= num_classes) {
      fail(
          "select_long_tail - label out of range: {{sample {}, label {}, "
          "num_classes {}}}",
          i,
          y,
          num_classes);
    }
    by_class[y].push_back(i);
  }
  NumpyRandomState rng(seed);
  std::vector<size_t> out;
  for (int64_t c = 0; c < num_classes; ++c) {
    auto& idx = by_class[c];
    rng.shuffle(idx);
    const size_t keep = std::min(
        idx.size(), static_cast<size_t>(std::max<int64_t>(0, counts[c])));
    out.insert(out.end(), idx.begin(), idx.begin() + keep);
  }
  return out;
}

std::shared_ptr<Subset> long_tail_subset(
    DatasetPtr base, const LongTailOptions& options) {
  if (!base) {
    fail("long_tail_subset - base dataset is null");
  }
  const int64_t classes = base->num_classes();
  if (classes < 1) {
    fail("long_tail_subset - dataset has no classes");
  }
  const double n_max = options.n_max > 0 ? options.n_max
                                         : static_cast<double>(base->size()) /
                                               static_cast<double>(classes);
  const auto counts = long_tail_counts(
      classes, n_max, options.imbalance_factor, options.profile);
  auto picks = select_long_tail(base->labels(), classes, counts, options.seed);
  return std::make_shared<Subset>(std::move(base), std::move(picks));
}

}  // namespace ltcl::data
