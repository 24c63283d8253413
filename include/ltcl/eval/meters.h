#pragma once
// Meters: accumulate predictions batch by batch, read a value at the end.
// Each has add / reset / value, as flashlight's meters do.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ltcl::eval {

// Running mean of a scalar (a loss component), weighted by sample count.
class AverageMeter {
 public:
  void add(double value, int64_t n = 1);
  void reset();
  double value() const;  // NaN before the first add
  int64_t count() const {
    return count_;
  }

 private:
  double sum_ = 0;
  int64_t count_ = 0;
};

// Top-k accuracy in percent: a sample counts when its label is among the k
// largest logits.
class TopKMeter {
 public:
  explicit TopKMeter(int64_t k = 1);
  // logits [N, C], targets [N] (int64). Throws ltcl::Error on bad shapes.
  void add(const at::Tensor& logits, const at::Tensor& targets);
  void reset();
  double value() const;  // NaN before the first add
  int64_t count() const {
    return total_;
  }

 private:
  int64_t k_;
  int64_t correct_ = 0;
  int64_t total_ = 0;
};

// C x C confusion matrix: row = true class, column = predicted class.
class ConfusionMeter {
 public:
  explicit ConfusionMeter(int64_t num_classes);
  // `outputs` is [N, C] logits (argmax taken) or [N] predicted classes;
  // targets [N]. Labels or predictions outside [0, C) throw ltcl::Error.
  void add(const at::Tensor& outputs, const at::Tensor& targets);
  void add(int64_t target, int64_t prediction);
  void reset();
  // Row-major C x C counts.
  const std::vector<int64_t>& value() const {
    return counts_;
  }
  int64_t at(int64_t target, int64_t prediction) const;
  int64_t num_classes() const {
    return num_classes_;
  }
  int64_t total() const;
  // Correct / total over all samples, percent (NaN when empty).
  double accuracy() const;
  // Per class: diagonal / row sum, percent (NaN for a class never seen).
  std::vector<double> per_class_accuracy() const;
  // Test samples of each class (row sums).
  std::vector<int64_t> class_totals() const;

 private:
  int64_t num_classes_;
  std::vector<int64_t> counts_;
};

}  // namespace ltcl::eval
