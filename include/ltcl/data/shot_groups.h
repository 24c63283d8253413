#pragma once
// Many / medium / few-shot class groups for reporting (METHODS.md section 1):
// many = n_c > many_above, few = n_c < few_below, medium = the rest. The
// defaults (100, 20) give CIFAR-100-LT IF 100 its 35 / 35 / 30 classes.
#include <cstdint>
#include <string>
#include <vector>

namespace ltcl::data {

enum class ShotGroup { kMany = 0, kMedium = 1, kFew = 2 };

// "many", "medium" or "few".
const char* shot_group_name(ShotGroup group);

// The one of three per-group values that belongs to `group` (the reports'
// many / medium / few members).
template <typename T>
const T& of_group(ShotGroup group, const T& many, const T& medium, const T& few) {
  switch (group) {
    case ShotGroup::kMany:
      return many;
    case ShotGroup::kMedium:
      return medium;
    case ShotGroup::kFew:
      break;
  }
  return few;
}

struct ShotThresholds {
  int64_t many_above = 100;  // many: n_c > many_above
  int64_t few_below = 20;    // few:  n_c < few_below
};

struct ShotGroups {
  std::vector<ShotGroup> group_of_class;  // one per class
  int64_t many = 0;                       // number of classes in each group
  int64_t medium = 0;
  int64_t few = 0;

  // The classes of one group, in increasing order.
  std::vector<int64_t> classes(ShotGroup group) const;
};

// Groups classes by their training counts. Throws ltcl::Error if
// few_below > many_above + 1 (groups would overlap) or a count is negative.
ShotGroups shot_groups(
    const std::vector<int64_t>& class_counts,
    const ShotThresholds& thresholds = {});

}  // namespace ltcl::data
