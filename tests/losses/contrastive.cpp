// The contrastive core against naive loops (tests/losses/naive.h), its
// switch algebra, gradients by finite differences, stability, bad input.
#include "ltcl/losses/contrastive.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ltcl/util/error.h"
#include "naive.h"
#include "support.h"

namespace {

using namespace ltcl::losses;
using ltcl::test::naive_bcl;
using ltcl::test::naive_contrastive;
using ltcl::test::naive_supcon;

class ContrastiveTest : public ltcl::test::SeededTest {};

torch::Tensor unit_features(int64_t b, int64_t v, int64_t d) {
  auto f = torch::randn({b, v, d}, torch::kDouble);
  return f / f.norm(2, 2, true);
}

torch::Tensor unit_rows(int64_t c, int64_t d) {
  auto p = torch::randn({c, d}, torch::kDouble);
  return p / p.norm(2, 1, true);
}

std::vector<int64_t> to_vec(const torch::Tensor& t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) {
    v[i] = t[i].item<int64_t>();
  }
  return v;
}

// C = 5 training classes with counts 100, 40, 10, 3, 1. Batch labels have a
// class seen once (3), an absent class (4) and a head class seen often.
const std::vector<double> kCounts = {100, 40, 10, 3, 1};
const std::vector<int64_t> kLabels = {0, 0, 1, 0, 2, 1, 3, 0};

torch::Tensor counts_tensor() {
  return torch::tensor(std::vector<int64_t>{100, 40, 10, 3, 1});
}

std::vector<std::pair<std::string, ContrastiveLossOptions>> settings() {
  return {
      {"supcon", supcon_options(0.1)},
      {"averaging",
       ContrastiveLossOptions().temperature(0.2).class_averaging(true)},
      {"balance", ContrastiveLossOptions().temperature(0.5).balance(1.0)},
      {"scale", ContrastiveLossOptions().temperature(0.5).feature_scale(1.7)},
      {"margin", ContrastiveLossOptions().temperature(0.3).margin_max(0.2)},
      {"rcl", rcl_options(0.2, 1.0, 1.5, 0.2)},
      {"bcl", bcl_options(0.2)},
      {"complement_only",
       ContrastiveLossOptions().temperature(0.3).class_complement(true)},
      {"bcl_rcl", bcl_rcl_options(0.2, 0.7, 1.3, 0.3)},
  };
}

void expect_matches_naive(
    int64_t v, const std::vector<int64_t>& labels, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t b = labels.size();
  auto f = unit_features(b, v, 6);
  auto p = unit_rows(5, 6);
  auto y = torch::tensor(labels);
  for (const auto& [name, o] : settings()) {
    auto protos = o.class_complement() ? p : torch::Tensor();
    double got = functional::contrastive_loss(f, y, protos, counts_tensor(), o)
                     .item<double>();
    double want = naive_contrastive(f, labels, protos, kCounts, o);
    EXPECT_NEAR(got, want, 1e-10 * std::max(1.0, std::abs(want)))
        << name << " V=" << v;
    // float32 agrees to float precision.
    double got32 =
        functional::contrastive_loss(
            f.to(torch::kFloat),
            y,
            o.class_complement() ? p.to(torch::kFloat) : torch::Tensor(),
            counts_tensor(),
            o)
            .item<double>();
    EXPECT_NEAR(got32, want, 1e-4 * std::max(1.0, std::abs(want))) << name;
  }
}

TEST_F(ContrastiveTest, MatchesNaiveTwoViews) {
  expect_matches_naive(2, kLabels, 1);
}

TEST_F(ContrastiveTest, MatchesNaiveOneViewWithSingletonAnchors) {
  // V = 1: classes 2 and 3 have one sample, so those anchors have no
  // positive without prototypes (they add 0 but count in the mean).
  expect_matches_naive(1, kLabels, 2);
}

TEST_F(ContrastiveTest, MatchesNaiveThreeViews) {
  expect_matches_naive(3, kLabels, 3);
}

TEST_F(ContrastiveTest, MatchesNaiveAllLabelsEqual) {
  expect_matches_naive(2, {2, 2, 2, 2, 2}, 4);
}

TEST_F(ContrastiveTest, HandComputedSmallCase) {
  // V = 1, labels (0, 0, 1), z1 = z2 = e1, z3 = e2, tau = 1.
  // Anchor 1: positive key 2 (logit 1), negative key 3 (logit 0):
  //   L_1 = -log(e / (e + 1)) = log(1 + 1/e) = 0.3132617;  L_2 = L_1;
  //   anchor 3 has no positive: 0.  Mean = 2 * 0.3132617 / 3 = 0.2088411.
  auto f = torch::tensor({1.0, 0.0, 1.0, 0.0, 0.0, 1.0}, torch::kDouble)
               .reshape({3, 1, 2});
  auto y = torch::tensor({0, 0, 1});
  auto o = supcon_options(1.0);
  EXPECT_NEAR(
      functional::contrastive_loss(f, y, {}, {}, o).item<double>(),
      2 * std::log1p(std::exp(-1.0)) / 3,
      1e-12);
  // balance 1 with counts (3, 1): pi = (3/4, 1/4):
  //   L_1 = -log(3/4 e / (3/4 e + 1/4)) = log(1 + 1/(3e)) = 0.1156717.
  o.balance(1.0);
  EXPECT_NEAR(
      functional::contrastive_loss(f, y, {}, torch::tensor({3, 1}), o)
          .item<double>(),
      2 * std::log1p(1.0 / (3 * std::exp(1.0))) / 3,
      1e-12);
}

TEST_F(ContrastiveTest, SwitchesOffIsSupCon) {
  auto f = unit_features(8, 2, 6);
  auto y = torch::tensor(kLabels);
  // Every RCL switch off (b = 0, s = 1, m = 0), no averaging / prototypes.
  auto o = rcl_options(0.15, 0.0, 1.0, 0.0);
  EXPECT_NEAR(
      functional::contrastive_loss(f, y, {}, counts_tensor(), o).item<double>(),
      naive_supcon(f, kLabels, 0.15),
      1e-10);
  EXPECT_NEAR(
      functional::contrastive_loss(f, y, {}, {}, supcon_options(0.15))
          .item<double>(),
      naive_supcon(f, kLabels, 0.15),
      1e-10);
}

TEST_F(ContrastiveTest, AveragingWithPrototypesIsBcl) {
  auto f = unit_features(8, 2, 6);
  auto p = unit_rows(5, 6);
  auto y = torch::tensor(kLabels);
  EXPECT_NEAR(
      functional::contrastive_loss(f, y, p, counts_tensor(), bcl_options(0.1))
          .item<double>(),
      naive_bcl(f, kLabels, p, 0.1),
      1e-10);
}

TEST_F(ContrastiveTest, PresetsAreSwitchSettings) {
  auto r = rcl_options(0.2, 1.0, 2.0, 0.5);
  EXPECT_FALSE(r.class_averaging());
  EXPECT_FALSE(r.class_complement());
  EXPECT_EQ(r.feature_scale(), 2.0);
  auto br = bcl_rcl_options(0.2, 1.0, 2.0, 0.5);
  EXPECT_TRUE(br.class_averaging());
  EXPECT_TRUE(br.class_complement());
  EXPECT_EQ(br.margin_max(), 0.5);
  auto s = supcon_options();
  EXPECT_EQ(s.balance(), 0.0);
  EXPECT_EQ(s.feature_scale(), 1.0);
  EXPECT_EQ(s.margin_max(), 0.0);
}

TEST_F(ContrastiveTest, GradientsMatchFiniteDifferences) {
  const auto labels = std::vector<int64_t>{0, 1, 0, 3, 1};
  auto y = torch::tensor(labels);
  for (int64_t v : {1, 2}) {
    auto f = unit_features(5, v, 4).requires_grad_(true);
    auto p = unit_rows(5, 4).requires_grad_(true);
    auto o = bcl_rcl_options(0.3, 0.8, 1.4, 0.3);
    auto loss = functional::contrastive_loss(f, y, p, counts_tensor(), o);
    auto grads = torch::autograd::grad({loss}, {f, p});
    const double h = 1e-6;
    for (int which = 0; which < 2; ++which) {
      auto x = (which == 0 ? f : p).detach().clone();
      auto flat = x.view(-1);
      for (int64_t k = 0; k < flat.numel(); ++k) {
        const double orig = flat[k].item<double>();
        auto eval = [&](double value) {
          flat[k] = value;
          auto ff = which == 0 ? x : f.detach();
          auto pp = which == 1 ? x : p.detach();
          return functional::contrastive_loss(ff, y, pp, counts_tensor(), o)
              .item<double>();
        };
        const double numeric = (eval(orig + h) - eval(orig - h)) / (2 * h);
        flat[k] = orig;
        EXPECT_NEAR(grads[which].reshape(-1)[k].item<double>(), numeric, 1e-6)
            << (which ? "prototype" : "feature") << " element " << k
            << " V=" << v;
      }
    }
  }
}

TEST_F(ContrastiveTest, StableForLargeLogitsAndNoNaN) {
  // s^2 / tau = 900: exp() of raw logits would overflow float32.
  auto f = unit_features(6, 2, 8);
  auto p = unit_rows(5, 8);
  auto y = torch::tensor({0, 0, 1, 2, 2, 3});
  auto o = bcl_rcl_options(0.01, 1.0, 3.0, 0.5);
  auto want = functional::contrastive_loss(f, y, p, counts_tensor(), o);
  auto f32 = f.to(torch::kFloat).requires_grad_(true);
  auto p32 = p.to(torch::kFloat).requires_grad_(true);
  auto got = functional::contrastive_loss(f32, y, p32, counts_tensor(), o);
  ASSERT_TRUE(std::isfinite(got.item<float>()));
  EXPECT_NEAR(
      got.item<double>(), want.item<double>(), 1e-4 * want.item<double>());
  got.backward();
  EXPECT_TRUE(torch::isfinite(f32.grad()).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(p32.grad()).all().item<bool>());
  // No positives anywhere (V = 1, distinct labels): loss and grad are 0.
  auto lone = unit_features(3, 1, 4).requires_grad_(true);
  auto l0 = functional::contrastive_loss(
      lone, torch::tensor({0, 1, 2}), {}, {}, supcon_options());
  l0.backward();
  EXPECT_EQ(l0.item<double>(), 0.0);
  EXPECT_EQ(lone.grad().abs().sum().item<double>(), 0.0);
  // One anchor, no keys at all.
  auto single = functional::contrastive_loss(
      unit_features(1, 1, 4), torch::tensor({0}), {}, {}, supcon_options());
  EXPECT_EQ(single.item<double>(), 0.0);
}

TEST_F(ContrastiveTest, ModuleMatchesFunctional) {
  auto f = unit_features(8, 2, 6);
  auto p = unit_rows(5, 6);
  auto y = torch::tensor(kLabels);
  auto o = bcl_rcl_options(0.2);
  ContrastiveLoss loss(o, std::vector<int64_t>{100, 40, 10, 3, 1});
  EXPECT_DOUBLE_EQ(
      loss->forward(f, y, p).item<double>(),
      functional::contrastive_loss(f, y, p, counts_tensor(), o).item<double>());
  EXPECT_THROW(
      { auto m = ContrastiveLoss(bcl_options()); }, ltcl::Error);  // no counts
  EXPECT_THROW({ auto m = ContrastiveLoss(supcon_options(0)); }, ltcl::Error);
}

// Throws ltcl::Error whose message contains every needle.
using ltcl::test::expect_error;

TEST_F(ContrastiveTest, BadArgumentsThrowWithShapes) {
  auto f = unit_features(4, 2, 6);
  auto p = unit_rows(5, 6);
  auto y = torch::tensor({0, 1, 2, 3});
  auto counts = counts_tensor();
  auto o = bcl_options();
  using functional::contrastive_loss;
  expect_error(
      [&] {
        contrastive_loss(f, torch::tensor({0, 1, 2}), p, counts, o);
      },
      {"contrastive_loss", "[4, 2, 6]", "[3]"});
  expect_error(
      [&] {
        contrastive_loss(f.reshape({8, 6}), y, p, counts, o);
      },
      {"[8, 6]"});
  expect_error(
      [&] { contrastive_loss(f, y, unit_rows(5, 5), counts, o); },
      {"[5, 5]", "[4, 2, 6]"});
  expect_error(
      [&] { contrastive_loss(f, y, unit_rows(4, 6), counts, o); }, {"[4, 6]"});
  expect_error(
      [&] { contrastive_loss(f, y, p, counts, bcl_options(0.0)); },
      {"temperature", "0"});
  expect_error(
      [&] { contrastive_loss(f, y, p, counts, bcl_options(-1)); },
      {"temperature"});
  expect_error(
      [&] {
        contrastive_loss(f, torch::tensor({0, 1, 5, 3}), p, counts, o);
      },
      {"labels", "[0, 5)", "max 5"});
  expect_error(
      [&] {
        contrastive_loss(f, y, p, torch::tensor({100, 40, 0, 3, 1}), o);
      },
      {"class_counts", "min 0"});
  expect_error(
      [&] { contrastive_loss(f, y, {}, counts, o); }, {"class_complement"});
  expect_error(
      [&] { contrastive_loss(f, y, p, counts, supcon_options()); },
      {"class_complement"});
  expect_error(
      [&] { contrastive_loss(f, y, {}, {}, rcl_options()); }, {"class_counts"});
  expect_error(
      [&] {
        contrastive_loss(f, y, {}, counts, supcon_options().feature_scale(0));
      },
      {"feature_scale"});
}

}  // namespace
