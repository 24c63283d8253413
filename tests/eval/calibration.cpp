// CalibrationMeter and calibration(): hand-computed ECE / MCE / NLL, bin
// edges, shot groups, and a naive recomputation on random data. Torch-free
// (no support.h), so that it compiles in seconds on its own.
#include "ltcl/eval/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ltcl/util/error.h"

namespace {

using ltcl::data::ShotGroup;
using namespace ltcl::eval;

// Classes 0-3 many, 4-6 medium, 7-9 few.
const std::vector<ShotGroup> kGroups10 = {
    ShotGroup::kMany,
    ShotGroup::kMany,
    ShotGroup::kMany,
    ShotGroup::kMany,
    ShotGroup::kMedium,
    ShotGroup::kMedium,
    ShotGroup::kMedium,
    ShotGroup::kFew,
    ShotGroup::kFew,
    ShotGroup::kFew};

// Six samples in three of the 15 bins (bin b = (b/15, (b+1)/15]):
//   #  conf  correct  nll  label (group)  bin
//   1  0.95  yes      0.1  0 (many)       14  (0.9333, 1]
//   2  0.97  no       2.0  4 (medium)     14
//   3  0.55  yes      0.6  1 (many)        8  (0.5333, 0.6]
//   4  0.58  yes      0.5  4 (medium)      8
//   5  0.25  no       1.5  9 (few)         3  (0.2, 0.2667]
//   6  0.22  yes      1.4  9 (few)         3
CalibrationMeter hand_meter() {
  CalibrationMeter m(10);
  m.add(0.95, true, 0.1, true, 0);
  m.add(0.97, false, 2.0, true, 4);
  m.add(0.55, true, 0.6, true, 1);
  // The other three through add_batch.
  const float conf[] = {0.58f, 0.25f, 0.22f};
  const bool correct[] = {true, false, true};
  const float nll[] = {0.5f, 1.5f, 1.4f};
  const bool top5[] = {true, false, true};
  const int64_t labels[] = {4, 9, 9};
  m.add_batch(conf, correct, nll, top5, labels, 3);
  return m;
}

constexpr double kFloatTol = 1e-6;  // three inputs went through float

TEST(Calibration, HandComputedEce) {
  auto r = calibration(hand_meter(), kGroups10);
  EXPECT_EQ(r.num_bins, 15);
  EXPECT_EQ(r.overall.samples, 6);
  // Bin 14: acc 1/2, conf 0.96, gap 0.46; bin 8: acc 1, conf 0.565, gap
  // 0.435; bin 3: acc 1/2, conf 0.235, gap 0.265.
  // ECE = 2/6 * (0.46 + 0.435 + 0.265) = 1.16 / 3; MCE = 0.46.
  EXPECT_NEAR(r.overall.ece, 1.16 / 3, kFloatTol);
  EXPECT_NEAR(r.overall.mce, 0.46, kFloatTol);
  EXPECT_NEAR(r.overall.nll, 6.1 / 6, kFloatTol);
  EXPECT_NEAR(r.overall.top1, 400.0 / 6, 1e-12);
  EXPECT_NEAR(r.top5, 500.0 / 6, 1e-12);  // sample 5 missed the top 5
  ASSERT_EQ(r.bins.size(), 15u);
  for (int b = 0; b < 15; ++b) {
    const auto& bin = r.bins[b];
    EXPECT_DOUBLE_EQ(bin.lower, b / 15.0);
    EXPECT_DOUBLE_EQ(bin.upper, (b + 1) / 15.0);
    EXPECT_EQ(bin.count, (b == 3 || b == 8 || b == 14) ? 2 : 0) << b;
  }
  EXPECT_NEAR(r.bins[14].confidence, 0.96, kFloatTol);
  EXPECT_DOUBLE_EQ(r.bins[14].accuracy, 0.5);
  EXPECT_NEAR(r.bins[8].confidence, 0.565, kFloatTol);
  EXPECT_DOUBLE_EQ(r.bins[8].accuracy, 1.0);
  EXPECT_NEAR(r.bins[3].confidence, 0.235, kFloatTol);
  EXPECT_DOUBLE_EQ(r.bins[0].confidence, 0.0);  // empty: 0, not NaN
}

TEST(Calibration, GroupsUseTheTrueClass) {
  auto r = calibration(hand_meter(), kGroups10);
  ASSERT_TRUE(r.many && r.medium && r.few);
  // many = samples 1, 3: bin 14 gap |1 - 0.95| = 0.05, bin 8 gap 0.45.
  EXPECT_EQ(r.many->samples, 2);
  EXPECT_NEAR(r.many->ece, 0.25, kFloatTol);
  EXPECT_NEAR(r.many->mce, 0.45, kFloatTol);
  EXPECT_NEAR(r.many->nll, 0.35, kFloatTol);
  EXPECT_DOUBLE_EQ(r.many->top1, 100.0);
  // medium = samples 2, 4: gaps 0.97 and |1 - 0.58| = 0.42.
  EXPECT_NEAR(r.medium->ece, (0.97 + 0.42) / 2, kFloatTol);
  EXPECT_NEAR(r.medium->mce, 0.97, kFloatTol);
  EXPECT_NEAR(r.medium->nll, 1.25, kFloatTol);
  EXPECT_DOUBLE_EQ(r.medium->top1, 50.0);
  // few = samples 5, 6, both in bin 3: gap 0.265.
  EXPECT_NEAR(r.few->ece, 0.265, kFloatTol);
  EXPECT_NEAR(r.few->mce, 0.265, kFloatTol);
  EXPECT_NEAR(r.few->nll, 1.45, kFloatTol);
  EXPECT_DOUBLE_EQ(r.few->top1, 50.0);
  EXPECT_EQ(&r.group(ShotGroup::kFew), &r.few);
}

TEST(Calibration, EmptyGroupsAreAbsentNotNan) {
  // Every sample's class is "many" or "medium": no few group at all.
  std::vector<ShotGroup> groups(10, ShotGroup::kMany);
  groups[4] = ShotGroup::kMedium;
  groups[9] = ShotGroup::kMedium;
  auto r = calibration(hand_meter(), groups);
  EXPECT_TRUE(r.many.has_value());
  EXPECT_TRUE(r.medium.has_value());
  EXPECT_FALSE(r.few.has_value());
  for (const auto* g : {&r.many, &r.medium}) {
    EXPECT_TRUE(std::isfinite((*g)->ece));
    EXPECT_TRUE(std::isfinite((*g)->nll));
    EXPECT_TRUE(std::isfinite((*g)->top1));
  }
  // A "few" class without test samples (classes 7, 8 are few but unseen).
  std::vector<ShotGroup> unseen(10, ShotGroup::kMany);
  unseen[7] = unseen[8] = ShotGroup::kFew;
  EXPECT_FALSE(calibration(hand_meter(), unseen).few.has_value());
  // No groups given: none reported.
  auto none = calibration(hand_meter(), {});
  EXPECT_FALSE(none.many || none.medium || none.few);
  EXPECT_NEAR(none.overall.ece, 1.16 / 3, kFloatTol);
}

TEST(Calibration, BinEdges) {
  // (b/15, (b+1)/15]: an edge belongs to the bin below it; 0 to bin 0.
  EXPECT_EQ(calibration_bin(0.0, 15), 0);
  EXPECT_EQ(calibration_bin(1.0 / 15, 15), 0);
  EXPECT_EQ(calibration_bin(std::nextafter(1.0 / 15, 1.0), 15), 1);
  EXPECT_EQ(calibration_bin(1.0, 15), 14);
  // Every edge b / B (as a double) of several bin counts: p * B rounds to
  // above b for some (7 / 25 * 25 > 7) and just past an edge to exactly b
  // for others (nextafter(11 / 15) * 15 == 11).
  for (int bins : {15, 25, 41, 100}) {
    for (int b = 1; b <= bins; ++b) {
      const double edge = static_cast<double>(b) / bins;
      EXPECT_EQ(calibration_bin(edge, bins), b - 1) << b << "/" << bins;
      if (b < bins) {
        EXPECT_EQ(calibration_bin(std::nextafter(edge, 2.0), bins), b)
            << "just above " << b << "/" << bins;
      }
      EXPECT_EQ(calibration_bin(std::nextafter(edge, 0.0), bins), b - 1);
    }
  }
  EXPECT_EQ(calibration_bin(0.5, 1), 0);

  CalibrationMeter m(3);
  m.add(1.0 / 15, true, 0.0, true, 0);    // bin 0, acc 1, conf 1/15
  m.add(0.0, false, 1.0, true, 1);        // bin 0
  m.add(1.0, true, 0.0, true, 2);         // bin 14, gap 0
  m.add(1.0 + 5e-7, true, 0.0, true, 2);  // clamped to 1
  auto r = calibration(m, {});
  EXPECT_EQ(r.bins[0].count, 2);
  EXPECT_EQ(r.bins[1].count, 0);
  EXPECT_EQ(r.bins[14].count, 2);
  EXPECT_DOUBLE_EQ(r.bins[14].confidence, 1.0);
  // Bin 0: acc 1/2, conf 1/30: ECE = 2/4 * (1/2 - 1/30).
  EXPECT_NEAR(r.overall.ece, 0.5 * (0.5 - 1.0 / 30), 1e-12);
  EXPECT_TRUE(std::isnan(r.top5));  // 3 classes: top-5 means nothing
}

TEST(Calibration, FromLogits) {
  // softmax(log 1, log 2, log 7) = (0.1, 0.2, 0.7): argmax 2.
  const float logits[] = {
      0.0f,
      std::log(2.0f),
      std::log(7.0f),  // label 1: wrong
      5.0f,
      5.0f,
      1.0f};  // label 0: tie -> class 0
  const int64_t labels[] = {1, 0};
  CalibrationMeter m(3);
  m.add_logits(logits, labels, 2);
  ASSERT_EQ(m.count(), 2);
  EXPECT_NEAR(m.confidences()[0], 0.7, 1e-6);
  EXPECT_EQ(m.corrects()[0], 0);
  EXPECT_NEAR(m.nlls()[0], -std::log(0.2), 1e-6);
  // Row 2: p = e^5 / (2 e^5 + e) for classes 0 and 1.
  const double p = std::exp(5.0) / (2 * std::exp(5.0) + std::exp(1.0));
  EXPECT_NEAR(m.confidences()[1], p, 1e-6);
  EXPECT_EQ(m.corrects()[1], 1);
  EXPECT_NEAR(m.nlls()[1], -std::log(p), 1e-6);
  // Top-5 over 7 classes: the label's logit must have < 5 strictly above.
  CalibrationMeter m7(7);
  const float l7[] = {6, 5, 4, 3, 2, 1, 0};
  const int64_t hit[] = {4}, miss[] = {5};
  m7.add_logits(l7, hit, 1);
  m7.add_logits(l7, miss, 1);
  EXPECT_EQ(m7.top5_hits(), (std::vector<uint8_t>{1, 0}));
  EXPECT_DOUBLE_EQ(calibration(m7, {}).top5, 50.0);
}

TEST(Calibration, BadInputsThrow) {
  CalibrationMeter m(4);
  EXPECT_THROW(m.add(1.1, true, 0.1, true, 0), ltcl::Error);
  EXPECT_THROW(m.add(-0.1, true, 0.1, true, 0), ltcl::Error);
  EXPECT_THROW(m.add(NAN, true, 0.1, true, 0), ltcl::Error);
  EXPECT_THROW(m.add(0.5, true, INFINITY, true, 0), ltcl::Error);
  EXPECT_THROW(m.add(0.5, true, -1, true, 0), ltcl::Error);
  EXPECT_THROW(m.add(0.5, true, 0.1, true, 4), ltcl::Error);
  EXPECT_THROW(m.add(0.5, true, 0.1, true, -1), ltcl::Error);
  EXPECT_EQ(m.count(), 0);
  EXPECT_THROW(calibration(m, {}), ltcl::Error);  // empty
  m.add(0.5, true, 0.1, true, 0);
  EXPECT_THROW(calibration(m, kGroups10), ltcl::Error);  // 10 groups, 4 classes
  EXPECT_THROW(calibration(m, {}, 0), ltcl::Error);
  EXPECT_THROW(CalibrationMeter(0), ltcl::Error);
  const float bad[] = {0, NAN, 1, 2};
  const int64_t label[] = {0};
  EXPECT_THROW(m.add_logits(bad, label, 1), ltcl::Error);
  try {
    m.add(0.5, true, 0.1, true, 7);
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got 7"), std::string::npos)
        << e.what();
  }
  m.reset();
  EXPECT_EQ(m.count(), 0);
}

// The definitions, recomputed the slow way: every bin scans every sample.
CalibrationSummary naive_summary(
    const std::vector<double>& conf,
    const std::vector<int>& correct,
    const std::vector<double>& nll,
    const std::vector<bool>& keep,
    int bins) {
  CalibrationSummary s;
  double n_all = 0, hits = 0, nll_sum = 0;
  for (size_t i = 0; i < conf.size(); ++i) {
    if (keep[i]) {
      n_all += 1;
      hits += correct[i];
      nll_sum += nll[i];
    }
  }
  for (int b = 0; b < bins; ++b) {
    const double lo = static_cast<double>(b) / bins;
    const double hi = static_cast<double>(b + 1) / bins;
    double n = 0, acc = 0, c = 0;
    for (size_t i = 0; i < conf.size(); ++i) {
      const bool in =
          (conf[i] > lo && conf[i] <= hi) || (b == 0 && conf[i] == 0);
      if (keep[i] && in) {
        n += 1;
        acc += correct[i];
        c += conf[i];
      }
    }
    if (n > 0) {
      s.ece += n / n_all * std::fabs(acc / n - c / n);
      s.mce = std::max(s.mce, std::fabs(acc / n - c / n));
    }
  }
  s.samples = static_cast<int64_t>(n_all);
  s.nll = nll_sum / n_all;
  s.top1 = 100 * hits / n_all;
  return s;
}

TEST(Calibration, MatchesNaiveRecomputationOnRandomData) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int64_t> cls(0, 9);
  for (int bins : {15, 10, 7}) {
    CalibrationMeter m(10);
    std::vector<double> conf, nll;
    std::vector<int> correct;
    std::vector<int64_t> labels;
    for (int i = 0; i < 2000; ++i) {
      // Some samples exactly on edges.
      double p = i % 50 == 0 ? static_cast<double>(i % 16) / 15 : u(rng);
      int hit = u(rng) < p ? 1 : 0;  // roughly calibrated
      double l = -std::log(std::max(1e-9, u(rng)));
      int64_t y = cls(rng);
      m.add(p, hit != 0, l, u(rng) < 0.9, y);
      conf.push_back(p);
      correct.push_back(hit);
      nll.push_back(l);
      labels.push_back(y);
    }
    auto r = calibration(m, kGroups10, bins);
    std::vector<bool> all(conf.size(), true);
    auto want = naive_summary(conf, correct, nll, all, bins);
    EXPECT_NEAR(r.overall.ece, want.ece, 1e-12) << bins;
    EXPECT_NEAR(r.overall.mce, want.mce, 1e-12);
    EXPECT_NEAR(r.overall.nll, want.nll, 1e-12);
    EXPECT_NEAR(r.overall.top1, want.top1, 1e-12);
    int64_t total = 0;
    for (const auto& b : r.bins) {
      total += b.count;
    }
    EXPECT_EQ(total, 2000);
    for (ShotGroup g :
         {ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew}) {
      std::vector<bool> keep;
      for (int64_t y : labels) {
        keep.push_back(kGroups10[y] == g);
      }
      auto wg = naive_summary(conf, correct, nll, keep, bins);
      ASSERT_TRUE(r.group(g).has_value());
      EXPECT_EQ(r.group(g)->samples, wg.samples);
      EXPECT_NEAR(r.group(g)->ece, wg.ece, 1e-12);
      EXPECT_NEAR(r.group(g)->mce, wg.mce, 1e-12);
      EXPECT_NEAR(r.group(g)->nll, wg.nll, 1e-12);
      EXPECT_NEAR(r.group(g)->top1, wg.top1, 1e-12);
    }
  }
}

}  // namespace
