#pragma once
// The evaluation report of a long-tailed run: overall top-1, top-1 of the
// many / medium / few-shot class groups (by training count), per-class
// accuracy and the confusion matrix; and its writers.
//
// Group accuracy = mean of the per-class accuracies of the group's classes
// (classes without test images are left out), the convention of the BCL and
// LDAM papers. On a balanced test set it equals the group's sample accuracy.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ltcl/data/shot_groups.h"
#include "ltcl/eval/calibration.h"
#include "ltcl/eval/embedding_metrics.h"
#include "ltcl/eval/meters.h"

namespace ltcl::eval {

// Shot groups (many / medium / few by training count) come from the data
// layer, so that reports and dataset statistics always agree.
using data::ShotGroup;
using data::shot_group_name;
using data::ShotThresholds;

struct ClassResult {
  int64_t index = 0;
  std::string name;
  int64_t train_count = 0;
  ShotGroup group = ShotGroup::kMany;
  int64_t test_count = 0;
  int64_t correct = 0;
  double accuracy = std::numeric_limits<double>::quiet_NaN();  // percent
};

struct EvalReport {
  double top1 = 0;  // correct / all test samples, percent
  double mean_class = 0;  // mean per-class accuracy (balanced accuracy)
  double many = 0, medium = 0, few = 0;  // NaN for an empty group
  int64_t many_classes = 0, medium_classes = 0, few_classes = 0;
  int64_t samples = 0;
  std::vector<ClassResult> per_class;
  int64_t num_classes = 0;
  std::vector<int64_t> confusion;  // row-major, row = true class
  // ECE / NLL / top-5 of the softmax (evaluate_model fills it); written by
  // report_json as "calibration" when present.
  std::optional<CalibrationReport> calibration;
};

// Builds the report; `train_counts` and `class_names` have one entry per
// class (names may be empty: the index is used). Throws ltcl::Error on
// length mismatches or bad thresholds.
EvalReport make_report(
    const ConfusionMeter& confusion,
    const std::vector<int64_t>& train_counts,
    const std::vector<std::string>& class_names = {},
    const ShotThresholds& thresholds = {});

// Extra scalars to store with an evaluation (epoch, lr, loss components...).
using Scalars = std::map<std::string, double>;

// One JSON object: the scalars, then top1, mean_class, many, medium, few and
// the group sizes. A group without a class with test images (NaN in the
// report) is left out, not written as null; other NaNs are null. With
// `per_class`, also the list of {class, name, train_count, group,
// test_count, accuracy}.
std::string report_json(
    const EvalReport& report,
    const Scalars& extra = {},
    bool per_class = false);

// One JSON object (docs/metrics.md): samples, num_classes, num_bins, ece,
// mce, nll, top1, top5 (left out with <= 5 classes), then many / medium / few
// as {samples, ece, mce, nll, top1} where present, and "bins": a list of
// {lower, upper, count, confidence, accuracy} (the last two only when count
// > 0). Nothing absent is written; no NaN or null appears.
std::string calibration_json(const CalibrationReport& report);

// One JSON object (docs/metrics.md): the sizes, the means over measured
// classes (compactness, extent, margin, positive_margin, nca, separation,
// resultant_length; left out when no class was measured), nca_samples,
// separation_cv, separation_ratio and compactness_ratio where present, many /
// medium / few group means where present; with `per_class`, "per_class": one
// object per class holding only its present values. No NaN or null appears.
std::string embedding_metrics_json(
    const EmbeddingMetrics& metrics, bool per_class = false);

// Appends one line (report_json without per-class) to metrics.jsonl.
void append_metrics_jsonl(
    const std::string& path,
    const EvalReport& report,
    const Scalars& extra = {});
// The final metrics.json (with per_class), written atomically.
void write_metrics_json(
    const std::string& path,
    const EvalReport& report,
    const Scalars& extra = {});
// per_class.csv: class,name,train_count,group,test_count,accuracy
void write_per_class_csv(const std::string& path, const EvalReport& report);
// confusion.csv: a header row of predicted class names, then one row per
// true class starting with its name.
void write_confusion_csv(const std::string& path, const EvalReport& report);

// Quotes a CSV field when needed (commas, quotes, newlines).
std::string csv_field(const std::string& s);

}  // namespace ltcl::eval
