#pragma once
// Calibration of a classifier's confidence (Guo et al., "On Calibration of
// Modern Neural Networks", ICML 2017), overall and per shot group.
//
// Per test sample i: confidence p_i = max_c softmax(x_i)_c, correct_i =
// [argmax_c x_i == y_i], nll_i = -log softmax(x_i)_{y_i}, top5_i = [y_i is
// among the 5 largest logits].
//
// Reliability bins: num_bins equal-width bins on [0, 1], bin b holds the
// samples with p in (b / B, (b + 1) / B]; p = 0 goes to bin 0. With n_b
// samples in bin b, acc_b = mean correct, conf_b = mean p:
//
//   ECE = sum_b n_b / N * |acc_b - conf_b|      (expected calibration error)
//   MCE = max_{b: n_b > 0} |acc_b - conf_b|     (maximum calibration error)
//
// ECE and MCE are fractions in [0, 1]; accuracies are percent, as in the
// rest of ltcl::eval. A shot group's numbers use the samples whose true
// class is in the group (sample accuracy, with the same bins).
//
// Everything here is plain C++ (no torch), so that it compiles cheaply and
// the evaluator hands it raw arrays (tensor.data_ptr<float>()).
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "ltcl/data/shot_groups.h"

namespace ltcl::eval {

// Accumulates one record per test sample; calibration() reads them.
class CalibrationMeter {
 public:
  // Throws ltcl::Error unless num_classes >= 1.
  explicit CalibrationMeter(int64_t num_classes);

  // One sample. confidence: the max softmax probability, in [0, 1] (values
  // within 1e-6 outside are clamped: float softmax may give 1.0000001);
  // correct: top-1 hit; nll: -log p_true, finite and >= 0 (compute it from
  // log_softmax, not log(softmax), so that it cannot be inf); top5_hit: the
  // label is in the top 5; label in [0, num_classes). Throws ltcl::Error on
  // a value out of range, naming it.
  void add(
      double confidence,
      bool correct,
      double nll,
      bool top5_hit,
      int64_t label);

  // `n` samples from parallel arrays (each of length n), as add().
  void add_batch(
      const float* confidence,
      const bool* correct,
      const float* nll,
      const bool* top5_hit,
      const int64_t* labels,
      int64_t n);

  // `n` rows of raw logits (row-major n x num_classes): computes confidence,
  // correctness, NLL (stable log-softmax) and top-5 hits itself. Ties in the
  // argmax go to the lowest class index; for top-5 a sample counts when
  // fewer than 5 classes have a logit strictly above the label's.
  void add_logits(const float* logits, const int64_t* labels, int64_t n);

  void reset();

  int64_t num_classes() const {
    return num_classes_;
  }
  int64_t count() const {
    return static_cast<int64_t>(labels_.size());
  }
  // The stored records, one per sample, in the order added.
  const std::vector<double>& confidences() const {
    return confidence_;
  }
  const std::vector<uint8_t>& corrects() const {
    return correct_;
  }
  const std::vector<double>& nlls() const {
    return nll_;
  }
  const std::vector<uint8_t>& top5_hits() const {
    return top5_;
  }
  const std::vector<int64_t>& labels() const {
    return labels_;
  }

 private:
  int64_t num_classes_;
  std::vector<double> confidence_;
  std::vector<uint8_t> correct_;
  std::vector<double> nll_;
  std::vector<uint8_t> top5_;
  std::vector<int64_t> labels_;
};

// The bin index of a confidence (see the header comment), for num_bins >= 1.
int calibration_bin(double confidence, int num_bins);

struct CalibrationBin {
  double lower = 0;  // the bin is (lower, upper]; bin 0 also holds 0
  double upper = 0;
  int64_t count = 0;
  // Means over the bin's samples; 0 when count == 0 (writers omit them).
  double confidence = 0;  // mean max-softmax probability
  double accuracy = 0;    // fraction correct, in [0, 1]
};

// ECE, MCE, NLL and top-1 of a set of samples.
struct CalibrationSummary {
  int64_t samples = 0;
  double ece = 0;   // fraction
  double mce = 0;   // fraction
  double nll = 0;   // mean -log p_true (nats)
  double top1 = 0;  // percent of the samples
};

struct CalibrationReport {
  int num_bins = 15;
  int64_t num_classes = 0;
  CalibrationSummary overall;
  // Top-5 accuracy in percent; NaN when num_classes <= 5 (it would be 100 by
  // construction). Writers omit it then.
  double top5 = std::numeric_limits<double>::quiet_NaN();
  std::vector<CalibrationBin> bins;  // overall, num_bins of them
  // Per shot group of the sample's true class; absent (nullopt) when no
  // sample's class is in the group, or when no groups were given.
  std::optional<CalibrationSummary> many, medium, few;

  const std::optional<CalibrationSummary>& group(data::ShotGroup g) const;
};

// The report over every sample of `meter`. `group_of_class` has one entry
// per class (data::shot_groups(train_counts).group_of_class), or is empty
// for no per-group numbers. Throws ltcl::Error when the meter is empty,
// num_bins < 1 or group_of_class has the wrong length.
CalibrationReport calibration(
    const CalibrationMeter& meter,
    const std::vector<data::ShotGroup>& group_of_class,
    int num_bins = 15);

}  // namespace ltcl::eval
