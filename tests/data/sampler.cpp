// Samplers: permutations, class frequencies (chi-square), resume, rank split.
#include "ltcl/data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::data;

std::vector<int64_t> drain(Sampler& s, size_t step = 7) {
  std::vector<int64_t> out;
  while (true) {
    auto b = s.next(step);
    if (b.empty()) {
      return out;
    }
    out.insert(out.end(), b.begin(), b.end());
  }
}

// Labels with class counts {1000, 100, 10}.
std::vector<int64_t> long_tail_labels() {
  std::vector<int64_t> y;
  for (int c = 0, n = 1000; c < 3; ++c, n /= 10) {
    for (int i = 0; i < n; ++i) {
      y.push_back(c);
    }
  }
  return y;
}

double chi_square(
    const std::vector<int64_t>& counts, const std::vector<double>& expected) {
  double s = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    s += (counts[i] - expected[i]) * (counts[i] - expected[i]) / expected[i];
  }
  return s;
}

SamplerOptions so(
    uint64_t seed,
    int64_t rank = 0,
    int64_t world_size = 1,
    bool drop_last = false) {
  SamplerOptions o;
  o.seed = seed;
  o.rank = rank;
  o.world_size = world_size;
  o.drop_last = drop_last;
  return o;
}

using ltcl::test::expect_error;

TEST(DataSampler, RandomIsAPermutationPerEpoch) {
  RandomSampler s(100, so(3));
  auto e0 = drain(s);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) {
    ASSERT_EQ(sorted[i], i);
  }
  s.set_epoch(1);
  auto e1 = drain(s);
  EXPECT_NE(e0, e1);
  s.set_epoch(0);
  EXPECT_EQ(drain(s), e0);  // a pure function of (seed, epoch)
  RandomSampler other(100, so(4));
  EXPECT_NE(drain(other), e0);
}

TEST(DataSampler, ClassBalancedFrequenciesWithinChiSquareBound) {
  SamplerOptions o;
  o.seed = 5;
  o.num_samples = 30000;
  ClassWeightedSampler s(long_tail_labels(), 0.0, o);
  EXPECT_EQ(s.name(), "class_balanced");
  auto draws = drain(s, 1000);
  ASSERT_EQ(draws.size(), 30000u);
  const auto labels = long_tail_labels();
  std::vector<int64_t> per_class(3, 0);
  std::vector<int64_t> tail(10, 0);  // the 10 samples of class 2
  for (int64_t i : draws) {
    ++per_class[labels[i]];
    if (labels[i] == 2) {
      ++tail[i - 1100];
    }
  }
  // 2 dof, 0.1% critical value 13.82.
  EXPECT_LT(chi_square(per_class, {10000, 10000, 10000}), 13.82);
  // Within a class, instances uniform: 9 dof, 0.1% critical value 27.88.
  std::vector<double> expect_tail(10, per_class[2] / 10.0);
  EXPECT_LT(chi_square(tail, expect_tail), 27.88);
}

TEST(DataSampler, SquareRootFrequenciesWithinChiSquareBound) {
  SamplerOptions o;
  o.seed = 6;
  o.num_samples = 30000;
  ClassWeightedSampler s(long_tail_labels(), 0.5, o);
  EXPECT_EQ(s.name(), "sqrt");
  const double r[3] = {std::sqrt(1000.0), std::sqrt(100.0), std::sqrt(10.0)};
  const double total = r[0] + r[1] + r[2];
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(s.class_probabilities()[c], r[c] / total, 1e-12);
  }
  const auto labels = long_tail_labels();
  std::vector<int64_t> per_class(3, 0);
  for (int64_t i : drain(s, 1000)) {
    ++per_class[labels[i]];
  }
  EXPECT_LT(
      chi_square(
          per_class,
          {30000 * r[0] / total, 30000 * r[1] / total, 30000 * r[2] / total}),
      13.82);
}

// Kang et al.'s class-aware sampler, checked from its definition: turns of
// 4 consecutive draws of one class; every cycle of turns visits each
// non-empty class once; within a class no image repeats before all of
// its images were drawn; class frequencies uniform (chi-square).
TEST(DataSampler, ClassAwareCyclesClassesAndTheirImages) {
  // Classes {1000, 100, 10}, an empty class 3, and class 4 with 3 images.
  auto labels = long_tail_labels();
  for (int i = 0; i < 3; ++i) {
    labels.push_back(4);
  }
  SamplerOptions o;
  o.seed = 11;
  o.num_samples = 4 * 4 * 500 + 2;  // 500 cycles and half a turn
  ClassAwareSampler s(labels, 4, o);
  EXPECT_EQ(s.name(), "class_aware");
  const auto draws = drain(s, 333);
  ASSERT_EQ(static_cast<int64_t>(draws.size()), o.num_samples);
  std::vector<int64_t> per_class(5, 0);
  std::map<int64_t, std::vector<int64_t>> of_class;  // draws in order
  std::set<int64_t> cycle;
  const size_t turns = draws.size() / 4;
  for (size_t t = 0; t < turns; ++t) {
    const int64_t c = labels[draws[4 * t]];
    for (size_t k = 0; k < 4; ++k) {
      ASSERT_EQ(labels[draws[4 * t + k]], c) << "turn " << t << " draw " << k;
      ++per_class[c];
      of_class[c].push_back(draws[4 * t + k]);
    }
    ASSERT_TRUE(cycle.insert(c).second) << "class " << c << " twice in a cycle";
    if (cycle.size() == 4) {
      cycle.clear();
    }
  }
  EXPECT_EQ(per_class[3], 0);
  for (int64_t c : {0, 1, 2, 4}) {
    EXPECT_EQ(per_class[c], 4 * 500) << c;
    const auto& seq = of_class[c];
    const size_t n = c == 4 ? 3 : c == 0 ? 1000 : c == 1 ? 100 : 10;
    for (size_t a = 0; a + n <= seq.size(); a += n) {
      std::set<int64_t> pass(seq.begin() + a, seq.begin() + a + n);
      ASSERT_EQ(pass.size(), n) << "class " << c << " repeats within a pass";
    }
  }
  // 3 dof over the non-empty classes, 0.1 % critical value 16.27.
  EXPECT_LT(
      chi_square(
          {per_class[0], per_class[1], per_class[2], per_class[4]},
          {2000, 2000, 2000, 2000}),
      16.27);
  // A pure function of (seed, epoch); the passes are shuffled, so two
  // epochs and two seeds differ.
  s.set_epoch(0);
  EXPECT_EQ(drain(s, 50), draws);
  s.set_epoch(1);
  EXPECT_NE(drain(s, 50), draws);
  o.seed = 12;
  ClassAwareSampler other(labels, 4, o);
  EXPECT_NE(drain(other, 50), draws);
  // Without num_samples an epoch is the dataset size.
  ClassAwareSampler plain(labels, 4, {});
  EXPECT_EQ(plain.size(), static_cast<int64_t>(labels.size()));
  expect_error(
      [&] { ClassAwareSampler(labels, 0, {}); }, {"per_class must be >= 1"});
  expect_error(
      [] { ClassAwareSampler({0, -1}, 4, {}); }, {"negative label"});
}

TEST(DataSampler, ResumeMidEpochGivesTheSameRemainder) {
  for (const std::string kind : {"random", "class_balanced", "class_aware"}) {
    auto make = [&] {
      SamplerOptions o;
      o.seed = 9;
      if (kind == "random") {
        return SamplerPtr(std::make_shared<RandomSampler>(1110, o));
      }
      if (kind == "class_aware") {
        return SamplerPtr(
            std::make_shared<ClassAwareSampler>(long_tail_labels(), 4, o));
      }
      return SamplerPtr(
          std::make_shared<ClassWeightedSampler>(long_tail_labels(), 0.0, o));
    };
    auto a = make();
    a->set_epoch(4);
    a->next(20);
    a->next(17);
    const std::vector<int64_t> saved = a->state().to_vector();
    EXPECT_EQ(saved, (std::vector<int64_t>{4, 37}));
    auto rest = drain(*a, 100);
    auto b = make();
    b->load_state(SamplerState::from_vector(saved));
    EXPECT_EQ(drain(*b, 13), rest) << kind;
  }
}

TEST(DataSampler, RanksSplitWithoutOverlap) {
  const int64_t n = 103;
  std::vector<int64_t> all;
  std::multiset<int64_t> seen;
  for (int64_t r = 0; r < 4; ++r) {
    RandomSampler s(n, so(1, r, 4));
    auto d = drain(s);
    EXPECT_EQ(static_cast<int64_t>(d.size()), 26);  // ceil(103 / 4)
    EXPECT_EQ(s.size(), 26);
    seen.insert(d.begin(), d.end());
    for (size_t k = 0; k < d.size(); ++k) {
      EXPECT_EQ(s.global_position(static_cast<int64_t>(k)), r + 4 * k);
    }
  }
  // 104 draws: every sample once, plus one padding repeat.
  EXPECT_EQ(seen.size(), 104u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 103u);
  // The global sequence is rank-independent: rank r's draws are the r-th of
  // every 4 consecutive draws of the single-process order.
  RandomSampler whole(n, so(1));
  auto w = drain(whole);
  RandomSampler r1(n, so(1, 1, 4));
  auto d1 = drain(r1);
  for (size_t k = 0; k < 25; ++k) {
    EXPECT_EQ(d1[k], w[1 + 4 * k]);
  }
  // drop_last truncates: 25 each, 100 distinct samples, no repeats.
  std::set<int64_t> distinct;
  for (int64_t r = 0; r < 4; ++r) {
    RandomSampler s(n, so(1, r, 4, true));
    auto d = drain(s);
    EXPECT_EQ(d.size(), 25u);
    distinct.insert(d.begin(), d.end());
  }
  EXPECT_EQ(distinct.size(), 100u);
}

TEST(DataSampler, PairedStreamsHaveEqualLengthAndDiffer) {
  SamplerOptions o;
  o.seed = 2;
  PairedSampler p(long_tail_labels(), o);
  p.set_epoch(3);
  EXPECT_EQ(p.instance()->size(), p.balanced()->size());
  auto a = p.instance()->next(64);
  auto b = p.balanced()->next(64);
  EXPECT_NE(a, b);
  auto st = p.state();
  EXPECT_EQ(st, (std::vector<int64_t>{3, 64, 3, 64}));
  PairedSampler q(long_tail_labels(), o);
  q.load_state(st);
  EXPECT_EQ(q.instance()->next(10), p.instance()->next(10));
  EXPECT_EQ(q.balanced()->next(10), p.balanced()->next(10));
}

TEST(DataSampler, BadOptionsRejected) {
  expect_error(
      [] { RandomSampler(10, so(0, 2, 2)); },
      {"rank must be in [0, 2): {got 2}"});
  expect_error(
      [] { RandomSampler(10, so(0, 0, 0)); }, {"world_size must be >= 1"});
  expect_error([] { RandomSampler(0, {}); }, {"empty"});
  expect_error(
      [] {
        RandomSampler s(10, {});
        s.load_state({0, 11});
      },
      {"position out of range"});
  expect_error([] { SamplerState::from_vector({1}); }, {"got 1 values"});
  expect_error(
      [] {
        ClassWeightedSampler({0, -1}, 0.0, {});
      },
      {"negative label"});
  expect_error(
      [] {
        struct Tiny : Dataset {
          std::vector<std::string> names{"a"};
          size_t size() const override {
            return 1;
          }
          Example get(size_t) const override {
            return {};
          }
          int64_t label(size_t) const override {
            return 0;
          }
          const std::vector<std::string>& class_names() const override {
            return names;
          }
          std::string describe(size_t) const override {
            return "t";
          }
        } tiny;
        make_sampler("balanced-ish", tiny);
      },
      {"valid: random, class_balanced, sqrt, class_aware"});
}

}  // namespace
