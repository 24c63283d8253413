#include "ltcl/eval/calibration.h"

#include <algorithm>
#include <cmath>

#include "ltcl/util/error.h"
#include "ltcl/util/guard.h"

namespace ltcl::eval {
namespace {

constexpr double kClampTolerance = 1e-6;

// Accumulates the bins of one set of samples and reads its summary.
struct BinSums {
  explicit BinSums(int num_bins)
      : count(num_bins, 0), conf(num_bins, 0.0), correct(num_bins, 0) {}

  void add(int bin, double confidence, bool hit, double nll_value) {
    ++count[bin];
    conf[bin] += confidence;
    correct[bin] += hit ? 1 : 0;
    nll += nll_value;
    ++samples;
  }

  CalibrationSummary summary() const {
    CalibrationSummary s;
    s.samples = samples;
    int64_t hits = 0;
    for (size_t b = 0; b < count.size(); ++b) {
      hits += correct[b];
      if (count[b] == 0) {
        continue;
      }
      const double n = static_cast<double>(count[b]);
      const double gap = std::fabs(correct[b] / n - conf[b] / n);
      s.ece += n / static_cast<double>(samples) * gap;
      s.mce = std::max(s.mce, gap);
    }
    s.nll = nll / static_cast<double>(samples);
    s.top1 = 100.0 * static_cast<double>(hits) / static_cast<double>(samples);
    return s;
  }

  std::vector<int64_t> count;
  std::vector<double> conf;
  std::vector<int64_t> correct;
  double nll = 0;
  int64_t samples = 0;
};

}  // namespace

CalibrationMeter::CalibrationMeter(int64_t num_classes)
    : num_classes_(num_classes) {
  if (num_classes < 1) {
    fail(
        "CalibrationMeter - num_classes must be at least 1: {{got {}}}",
        num_classes);
  }
}

void CalibrationMeter::add(
    double confidence, bool correct, double nll, bool top5_hit, int64_t label) {
  if (!(confidence >= -kClampTolerance && confidence <= 1 + kClampTolerance)) {
    fail(
        "CalibrationMeter::add - confidence must be a probability in [0, 1]: "
        "{{sample {}, got {}}}",
        count(),
        confidence);
  }
  if (!std::isfinite(nll) || nll < -kClampTolerance) {
    fail(
        "CalibrationMeter::add - nll must be finite and >= 0 (use "
        "-log_softmax): {{sample {}, got {}}}",
        count(),
        nll);
  }
  if (label < 0 || label >= num_classes_) {
    fail(
        "CalibrationMeter::add - label out of range: {{sample {}, got {}, "
        "classes {}}}",
        count(),
        label,
        num_classes_);
  }
  confidence_.push_back(std::clamp(confidence, 0.0, 1.0));
  correct_.push_back(correct ? 1 : 0);
  nll_.push_back(std::max(nll, 0.0));
  top5_.push_back(top5_hit ? 1 : 0);
  labels_.push_back(label);
}

void CalibrationMeter::add_batch(
    const float* confidence,
    const bool* correct,
    const float* nll,
    const bool* top5_hit,
    const int64_t* labels,
    int64_t n) {
  if (n < 0) {
    fail("CalibrationMeter::add_batch - negative count: {{got {}}}", n);
  }
  if (n > 0 && (!confidence || !correct || !nll || !top5_hit || !labels)) {
    fail("CalibrationMeter::add_batch - null array for {} samples", n);
  }
  for (int64_t i = 0; i < n; ++i) {
    add(confidence[i], correct[i], nll[i], top5_hit[i], labels[i]);
  }
}

void CalibrationMeter::add_logits(
    const float* logits, const int64_t* labels, int64_t n) {
  if (n < 0) {
    fail("CalibrationMeter::add_logits - negative count: {{got {}}}", n);
  }
  if (n > 0 && (!logits || !labels)) {
    fail("CalibrationMeter::add_logits - null array for {} samples", n);
  }
  const int64_t C = num_classes_;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits + i * C;
    const int64_t y = labels[i];
    if (y < 0 || y >= C) {
      fail(
          "CalibrationMeter::add_logits - label out of range: {{row {}, got "
          "{}, classes {}}}",
          i,
          y,
          C);
    }
    int64_t arg = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (!std::isfinite(row[c])) {
        // Typed: in training a non-finite logit means the weights diverged.
        throw util::NonFiniteState(fmt::format(
            "CalibrationMeter::add_logits - non-finite logit: {{row {}, class "
            "{}, got {}}}",
            i,
            c,
            row[c]));
      }
      if (row[c] > row[arg]) {
        arg = c;
      }
    }
    const double max = row[arg];
    double sum = 0;
    int64_t above = 0;
    for (int64_t c = 0; c < C; ++c) {
      sum += std::exp(static_cast<double>(row[c]) - max);
      above += row[c] > row[y] ? 1 : 0;
    }
    const double log_sum = max + std::log(sum);
    add(1.0 / sum, arg == y, log_sum - row[y], above < 5, y);
  }
}

void CalibrationMeter::reset() {
  confidence_.clear();
  correct_.clear();
  nll_.clear();
  top5_.clear();
  labels_.clear();
}

int calibration_bin(double confidence, int num_bins) {
  if (!(confidence > 0)) {
    return 0;
  }
  if (confidence >= 1) {
    return num_bins - 1;
  }
  // Bin b = (b / B, (b + 1) / B]; the edges are the doubles b / B, so fix up
  // the rounding of ceil(p * B) against them.
  int b = static_cast<int>(std::ceil(confidence * num_bins)) - 1;
  b = std::clamp(b, 0, num_bins - 1);
  while (b > 0 && confidence <= static_cast<double>(b) / num_bins) {
    --b;
  }
  while (b + 1 < num_bins &&
         confidence > static_cast<double>(b + 1) / num_bins) {
    ++b;
  }
  return b;
}

const std::optional<CalibrationSummary>& CalibrationReport::group(
    data::ShotGroup g) const {
  return data::of_group(g, many, medium, few);
}

CalibrationReport calibration(
    const CalibrationMeter& meter,
    const std::vector<data::ShotGroup>& group_of_class,
    int num_bins) {
  if (num_bins < 1) {
    fail("calibration - num_bins must be at least 1: {{got {}}}", num_bins);
  }
  if (meter.count() == 0) {
    fail("calibration - the meter has no samples");
  }
  const int64_t C = meter.num_classes();
  if (!group_of_class.empty() &&
      static_cast<int64_t>(group_of_class.size()) != C) {
    fail(
        "calibration - group_of_class needs one entry per class: {{got {}, "
        "classes {}}}",
        group_of_class.size(),
        C);
  }
  BinSums all(num_bins);
  std::vector<BinSums> groups(3, BinSums(num_bins));
  int64_t top5_hits = 0;
  const auto& conf = meter.confidences();
  const auto& correct = meter.corrects();
  const auto& nll = meter.nlls();
  const auto& labels = meter.labels();
  for (size_t i = 0; i < conf.size(); ++i) {
    const int b = calibration_bin(conf[i], num_bins);
    all.add(b, conf[i], correct[i] != 0, nll[i]);
    if (!group_of_class.empty()) {
      groups[static_cast<int>(group_of_class[labels[i]])].add(
          b, conf[i], correct[i] != 0, nll[i]);
    }
    top5_hits += meter.top5_hits()[i];
  }

  CalibrationReport r;
  r.num_bins = num_bins;
  r.num_classes = C;
  r.overall = all.summary();
  if (C > 5) {
    r.top5 = 100.0 * static_cast<double>(top5_hits) /
             static_cast<double>(meter.count());
  }
  for (int b = 0; b < num_bins; ++b) {
    CalibrationBin bin;
    bin.lower = static_cast<double>(b) / num_bins;
    bin.upper = static_cast<double>(b + 1) / num_bins;
    bin.count = all.count[b];
    if (bin.count > 0) {
      bin.confidence = all.conf[b] / static_cast<double>(bin.count);
      bin.accuracy =
          static_cast<double>(all.correct[b]) / static_cast<double>(bin.count);
    }
    r.bins.push_back(bin);
  }
  std::optional<CalibrationSummary>* slots[3] = {&r.many, &r.medium, &r.few};
  for (int g = 0; g < 3; ++g) {
    if (groups[g].samples > 0) {
      *slots[g] = groups[g].summary();
    }
  }
  return r;
}

}  // namespace ltcl::eval
