#include "ltcl/eval/meters.h"

#include <cmath>
#include <limits>

#include <fmt/ranges.h>

#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

void AverageMeter::add(double value, int64_t n) {
  sum_ += value * static_cast<double>(n);
  count_ += n;
}

void AverageMeter::reset() {
  sum_ = 0;
  count_ = 0;
}

double AverageMeter::value() const {
  return count_ > 0 ? sum_ / static_cast<double>(count_) : kNaN;
}

TopKMeter::TopKMeter(int64_t k) : k_(k) {
  if (k < 1) {
    fail("TopKMeter - k must be >= 1: {{got {}}}", k);
  }
}

void TopKMeter::add(const at::Tensor& logits, const at::Tensor& targets) {
  if (logits.dim() != 2 || targets.dim() != 1 ||
      logits.size(0) != targets.size(0)) {
    fail(
        "TopKMeter::add - expected logits [N, C] and targets [N]: {{got {} "
        "and {}}}",
        logits.sizes().vec(),
        targets.sizes().vec());
  }
  if (logits.size(1) < k_) {
    fail(
        "TopKMeter::add - fewer classes than k: {{got C = {}, k = {}}}",
        logits.size(1),
        k_);
  }
  torch::NoGradGuard no_grad;
  auto top = std::get<1>(logits.topk(k_, 1));
  auto hit = top.eq(targets.to(top.device()).view({-1, 1})).any(1);
  correct_ += hit.sum().item<int64_t>();
  total_ += targets.size(0);
}

void TopKMeter::reset() {
  correct_ = 0;
  total_ = 0;
}

double TopKMeter::value() const {
  return total_ > 0 ? 100.0 * correct_ / static_cast<double>(total_) : kNaN;
}

ConfusionMeter::ConfusionMeter(int64_t num_classes)
    : num_classes_(num_classes) {
  if (num_classes < 1) {
    fail("ConfusionMeter - num_classes must be >= 1: {{got {}}}", num_classes);
  }
  counts_.assign(static_cast<size_t>(num_classes * num_classes), 0);
}

void ConfusionMeter::add(int64_t target, int64_t prediction) {
  if (target < 0 || target >= num_classes_ || prediction < 0 ||
      prediction >= num_classes_) {
    fail(
        "ConfusionMeter::add - class out of range [0, {}): {{got target {}, "
        "prediction {}}}",
        num_classes_,
        target,
        prediction);
  }
  ++counts_[static_cast<size_t>(target * num_classes_ + prediction)];
}

void ConfusionMeter::add(const at::Tensor& outputs, const at::Tensor& targets) {
  torch::NoGradGuard no_grad;
  at::Tensor pred;
  if (outputs.dim() == 2 && outputs.size(1) == num_classes_) {
    pred = outputs.argmax(1);
  } else if (outputs.dim() == 1) {
    pred = outputs;
  } else {
    fail(
        "ConfusionMeter::add - expected outputs [N, {}] or [N]: {{got {}}}",
        num_classes_,
        outputs.sizes().vec());
  }
  if (targets.dim() != 1 || targets.size(0) != pred.size(0)) {
    fail(
        "ConfusionMeter::add - targets must be [N] with N = {}: {{got {}}}",
        pred.size(0),
        targets.sizes().vec());
  }
  auto p = pred.to(torch::kCPU, torch::kLong).contiguous();
  auto t = targets.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* pp = p.data_ptr<int64_t>();
  const int64_t* tp = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < p.numel(); ++i) {
    add(tp[i], pp[i]);
  }
}

void ConfusionMeter::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
}

int64_t ConfusionMeter::at(int64_t target, int64_t prediction) const {
  if (target < 0 || target >= num_classes_ || prediction < 0 ||
      prediction >= num_classes_) {
    fail(
        "ConfusionMeter::at - class out of range [0, {}): {{got {}, {}}}",
        num_classes_,
        target,
        prediction);
  }
  return counts_[static_cast<size_t>(target * num_classes_ + prediction)];
}

int64_t ConfusionMeter::total() const {
  int64_t s = 0;
  for (auto c : counts_) {
    s += c;
  }
  return s;
}

double ConfusionMeter::accuracy() const {
  int64_t correct = 0;
  for (int64_t c = 0; c < num_classes_; ++c) {
    correct += at(c, c);
  }
  int64_t n = total();
  return n > 0 ? 100.0 * correct / static_cast<double>(n) : kNaN;
}

std::vector<int64_t> ConfusionMeter::class_totals() const {
  std::vector<int64_t> rows(static_cast<size_t>(num_classes_), 0);
  for (int64_t t = 0; t < num_classes_; ++t) {
    for (int64_t p = 0; p < num_classes_; ++p) {
      rows[t] += counts_[static_cast<size_t>(t * num_classes_ + p)];
    }
  }
  return rows;
}

std::vector<double> ConfusionMeter::per_class_accuracy() const {
  auto rows = class_totals();
  std::vector<double> acc(static_cast<size_t>(num_classes_), kNaN);
  for (int64_t c = 0; c < num_classes_; ++c) {
    if (rows[c] > 0) {
      acc[c] = 100.0 * at(c, c) / static_cast<double>(rows[c]);
    }
  }
  return acc;
}

}  // namespace ltcl::eval
