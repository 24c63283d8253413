#include "ltcl/data/shot_groups.h"

#include "ltcl/util/error.h"

namespace ltcl::data {

const char* shot_group_name(ShotGroup group) {
  switch (group) {
    case ShotGroup::kMany:
      return "many";
    case ShotGroup::kMedium:
      return "medium";
    case ShotGroup::kFew:
      return "few";
  }
  return "?";
}

std::vector<int64_t> ShotGroups::classes(ShotGroup group) const {
  std::vector<int64_t> out;
  for (size_t c = 0; c < group_of_class.size(); ++c) {
    if (group_of_class[c] == group) {
      out.push_back(static_cast<int64_t>(c));
    }
  }
  return out;
}

ShotGroups shot_groups(
    const std::vector<int64_t>& class_counts,
    const ShotThresholds& thresholds) {
  if (thresholds.few_below > thresholds.many_above + 1) {
    fail(
        "shot_groups - few threshold above many threshold: {{got few < {}, "
        "many > {}}}",
        thresholds.few_below,
        thresholds.many_above);
  }
  ShotGroups groups;
  groups.group_of_class.reserve(class_counts.size());
  for (size_t c = 0; c < class_counts.size(); ++c) {
    const int64_t n = class_counts[c];
    if (n < 0) {
      fail("shot_groups - negative count: {{class {}, got {}}}", c, n);
    }
    ShotGroup g = ShotGroup::kMedium;
    if (n > thresholds.many_above) {
      g = ShotGroup::kMany;
      ++groups.many;
    } else if (n < thresholds.few_below) {
      g = ShotGroup::kFew;
      ++groups.few;
    } else {
      ++groups.medium;
    }
    groups.group_of_class.push_back(g);
  }
  return groups;
}

}  // namespace ltcl::data
