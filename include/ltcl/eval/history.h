#pragma once
// The learning curves of a run: one record per epoch (loss means, lr,
// throughput, and the accuracies when the epoch was evaluated), kept in the
// checkpoint as JSON and drawn as curves.png.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ltcl::eval {

struct EpochRecord {
  int64_t epoch = 0;  // 0-based
  double lr = 0;
  double images_per_s = 0;
  std::map<std::string, double> losses;
  std::map<std::string, double> accuracy;  // top1/many/medium/few if eval'd
  std::string split;  // the split `accuracy` was measured on (val / test)
};

using History = std::vector<EpochRecord>;

// As a JSON array (NaN accuracies as null), and back.
std::string history_to_json(const History& history);
History history_from_json(const std::string& text);

// Two panels: the training losses and the evaluated accuracies per epoch
// (titled by the split they were measured on).
void write_curves(const std::string& path, const History& history);

}  // namespace ltcl::eval
