// CE-family losses: hand-computed values, naive loops, gradients, errors.
#include "ltcl/losses/classification.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ltcl/losses/checks.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::losses;
namespace F = ltcl::losses::functional;

class ClassificationTest : public ltcl::test::SeededTest {};

double val(const torch::Tensor& t) {
  return t.item<double>();
}

TEST_F(ClassificationTest, HandComputedTwoClassValues) {
  // logits (0, ln 3): softmax = (1/4, 3/4).
  auto x = torch::tensor({{0.0, std::log(3.0)}}, torch::kDouble);
  auto y0 = torch::tensor({0});
  auto y1 = torch::tensor({1});
  // CE, label 0: -log(1/4) = ln 4.
  EXPECT_NEAR(val(F::cross_entropy(x, y0)), std::log(4.0), 1e-12);
  // LA, tau 1, counts (3, 1): x + log pi = (ln 3/4, ln 3 + ln 1/4): equal
  // logits -> ln 2.
  auto counts = torch::tensor({3, 1});
  EXPECT_NEAR(
      val(F::logit_adjusted_cross_entropy(x, y0, counts)),
      std::log(2.0),
      1e-12);
  // tau 0 is plain CE.
  EXPECT_NEAR(
      val(F::logit_adjusted_cross_entropy(
          x, y0, counts, LogitAdjustedLossOptions().tau(0))),
      std::log(4.0),
      1e-12);
  // Balanced Softmax, counts (3, 1): x + log n = (ln 3, ln 3) -> ln 2.
  EXPECT_NEAR(
      val(F::balanced_softmax_cross_entropy(x, y0, counts)),
      std::log(2.0),
      1e-12);
  // LDAM, counts (16, 1): n^-1/4 = (1/2, 1) -> Delta = (0.25, 0.5).
  // logits (0.5, 0.25), label 0, s 2: 2 * (0.5 - 0.25, 0.25) = (0.5, 0.5)
  // -> ln 2.
  auto xl = torch::tensor({{0.5, 0.25}}, torch::kDouble);
  EXPECT_NEAR(
      val(F::ldam_loss(
          xl, y0, torch::tensor({16, 1}), LDAMLossOptions().scale(2))),
      std::log(2.0),
      1e-12);
  auto margins = F::ldam_margins(torch::tensor({16, 1}), 0.5);
  EXPECT_NEAR(margins[0].item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(margins[1].item<double>(), 0.5, 1e-12);
  // Focal gamma 2, label 1: p = 3/4: -(1/4)^2 ln(3/4) = 0.0179801.
  EXPECT_NEAR(val(F::focal_loss(x, y1)), -0.0625 * std::log(0.75), 1e-12);
  // gamma 0 is CE.
  EXPECT_NEAR(
      val(F::focal_loss(x, y0, FocalLossOptions().gamma(0))),
      std::log(4.0),
      1e-12);
}

TEST_F(ClassificationTest, DrwWeightsHandComputed) {
  // beta 0.5, counts (1, 2): (1-b)/(1-b^n) = (1, 2/3), sum 5/3, rescaled to
  // sum 2: (1.2, 0.8).
  auto w = drw_class_weights({1, 2}, 0.5);
  EXPECT_NEAR(w[0].item<float>(), 1.2f, 1e-6);
  EXPECT_NEAR(w[1].item<float>(), 0.8f, 1e-6);
  // Default beta 0.9999: sums to C, and rarer classes weigh more.
  auto w2 = drw_class_weights({5000, 500, 50});
  EXPECT_NEAR(w2.sum().item<float>(), 3.0f, 1e-5);
  EXPECT_LT(w2[0].item<float>(), w2[1].item<float>());
  EXPECT_LT(w2[1].item<float>(), w2[2].item<float>());
  EXPECT_THROW(drw_class_weights({1, 0}), ltcl::Error);
  EXPECT_THROW(drw_class_weights({1, 2}, 1.0), ltcl::Error);
}

// Naive per-sample loops on random logits.
TEST_F(ClassificationTest, MatchNaiveLoops) {
  const int64_t n = 7, c = 4;
  auto x = torch::randn({n, c}, torch::kDouble) * 3;
  auto y = torch::tensor({0, 1, 3, 3, 2, 0, 3});
  std::vector<double> counts = {500, 120, 30, 4};
  auto counts_t = torch::tensor(std::vector<int64_t>{500, 120, 30, 4});
  std::vector<double> weight = {0.3, 0.7, 1.1, 1.9};
  double total = 0;
  for (double q : counts) {
    total += q;
  }
  auto ce_row = [&](const std::vector<double>& z, int64_t label) {
    double sum = 0;
    for (double v : z) {
      sum += std::exp(v);
    }
    return -std::log(std::exp(z[label]) / sum);
  };
  double la = 0, bs = 0, ldam = 0, ldam_w = 0, wsum = 0, focal = 0;
  const double tau = 0.7, s = 5, max_m = 0.4, gamma = 1.5;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = y[i].item<int64_t>();
    std::vector<double> za(c), zb(c), zl(c), z(c);
    for (int64_t k = 0; k < c; ++k) {
      z[k] = x[i][k].item<double>();
      za[k] = z[k] + tau * std::log(counts[k] / total);
      zb[k] = z[k] + std::log(counts[k]);
      double delta = max_m * std::pow(counts[k], -0.25) /
                     std::pow(counts[3], -0.25);  // counts[3] is the smallest
      zl[k] = s * (z[k] - (k == label ? delta : 0));
    }
    la += ce_row(za, label);
    bs += ce_row(zb, label);
    ldam += ce_row(zl, label);
    ldam_w += weight[label] * ce_row(zl, label);
    wsum += weight[label];
    double p = std::exp(-ce_row(z, label));
    focal += -std::pow(1 - p, gamma) * std::log(p);
  }
  EXPECT_NEAR(
      val(F::logit_adjusted_cross_entropy(
          x, y, counts_t, LogitAdjustedLossOptions().tau(tau))),
      la / n,
      1e-12);
  EXPECT_NEAR(
      val(F::balanced_softmax_cross_entropy(x, y, counts_t)), bs / n, 1e-12);
  auto lo = LDAMLossOptions().scale(s).max_margin(max_m);
  EXPECT_NEAR(val(F::ldam_loss(x, y, counts_t, lo)), ldam / n, 1e-12);
  auto w = torch::tensor(weight, torch::kDouble);
  EXPECT_NEAR(val(F::ldam_loss(x, y, counts_t, lo, w)), ldam_w / wsum, 1e-12);
  EXPECT_NEAR(
      val(F::focal_loss(x, y, FocalLossOptions().gamma(gamma))),
      focal / n,
      1e-12);
  // The module with DRW weights switched on equals the functional.
  LDAMLoss module(std::vector<int64_t>{500, 120, 30, 4}, lo);
  EXPECT_NEAR(val(module->forward(x, y)), ldam / n, 1e-12);
  module->set_class_weights(w);
  EXPECT_NEAR(val(module->forward(x, y)), ldam_w / wsum, 1e-6);
  module->set_class_weights({});
  EXPECT_NEAR(val(module->forward(x, y)), ldam / n, 1e-12);
  LogitAdjustedLoss la_module(
      std::vector<int64_t>{500, 120, 30, 4},
      LogitAdjustedLossOptions().tau(tau));
  EXPECT_NEAR(val(la_module->forward(x, y)), la / n, 1e-12);
  BalancedSoftmaxLoss bs_module(std::vector<int64_t>{500, 120, 30, 4});
  EXPECT_NEAR(val(bs_module->forward(x, y)), bs / n, 1e-12);
  FocalLoss focal_module(FocalLossOptions().gamma(gamma));
  EXPECT_NEAR(val(focal_module->forward(x, y)), focal / n, 1e-12);
}

TEST_F(ClassificationTest, GradientsMatchFiniteDifferences) {
  auto x = torch::randn({5, 3}, torch::kDouble);
  auto y = torch::tensor({0, 2, 1, 2, 2});
  auto counts = torch::tensor({50, 9, 2});
  auto w = torch::tensor({0.5, 1.0, 1.5}, torch::kDouble);
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> losses = {
      [&](const torch::Tensor& z) {
        return F::logit_adjusted_cross_entropy(z, y, counts);
      },
      [&](const torch::Tensor& z) {
        return F::ldam_loss(z, y, counts, LDAMLossOptions().scale(3), w);
      },
      [&](const torch::Tensor& z) {
        return F::focal_loss(z, y, FocalLossOptions().gamma(2));
      },
  };
  for (size_t which = 0; which < losses.size(); ++which) {
    auto xr = x.clone().requires_grad_(true);
    auto grad = torch::autograd::grad({losses[which](xr)}, {xr})[0];
    auto xd = x.clone();
    for (int64_t i = 0; i < xd.numel(); ++i) {
      auto flat = xd.view(-1);
      const double orig = flat[i].item<double>(), h = 1e-6;
      flat[i] = orig + h;
      const double up = val(losses[which](xd));
      flat[i] = orig - h;
      const double down = val(losses[which](xd));
      flat[i] = orig;
      EXPECT_NEAR(
          grad.reshape(-1)[i].item<double>(), (up - down) / (2 * h), 1e-7)
          << "loss " << which << " element " << i;
    }
  }
}

using ltcl::test::expect_error;

TEST_F(ClassificationTest, BadArgumentsThrowWithShapes) {
  auto x = torch::randn({4, 3});
  auto y = torch::tensor({0, 1, 2, 1});
  auto counts = torch::tensor({10, 5, 1});
  expect_error(
      [&] {
        F::cross_entropy(x, torch::tensor({0, 1, 2}));
      },
      {"cross_entropy", "[4, 3]", "[3]"});
  expect_error(
      [&] {
        F::logit_adjusted_cross_entropy(x, y, torch::tensor({10, 5}));
      },
      {"logit_adjusted_cross_entropy", "class_counts", "[2]"});
  expect_error(
      [&] {
        F::balanced_softmax_cross_entropy(x, y, torch::tensor({10, 0, 1}));
      },
      {"balanced_softmax_cross_entropy", "min 0"});
  expect_error(
      [&] {
        F::ldam_loss(x, torch::tensor({0, 1, 3, 1}), counts);
      },
      {"ldam_loss", "labels", "max 3"});
  expect_error(
      [&] { F::ldam_loss(x, y, counts, {}, torch::ones({4})); },
      {"weight", "[4]"});
  expect_error(
      [&] { F::focal_loss(x, y, FocalLossOptions().gamma(-1)); }, {"gamma"});
  expect_error(
      [&] { F::focal_loss(x.view({12}), torch::tensor({0})); }, {"[12]"});
  expect_error(
      [&] { F::ldam_loss(x, y, counts, LDAMLossOptions().scale(0)); },
      {"scale"});
  expect_error(
      [&] {
        F::cross_entropy(x, torch::tensor({0, -1, 2, 1}));
      },
      {"min -1"});
  EXPECT_THROW({ auto m = LDAMLoss(std::vector<int64_t>{3, 0}); }, ltcl::Error);
}

TEST_F(ClassificationTest, TrustedInputsSkipOnlyTheValueChecksInTheirScope) {
  auto x = torch::randn({4, 3});
  auto y = torch::tensor({0, 1, 2, 1});
  auto zero_count = torch::tensor({10, 0, 1});
  {
    ltcl::losses::TrustedInputs trust;
    EXPECT_TRUE(ltcl::losses::inputs_trusted());
    // No read-back: the zero count goes through (log 0 = -inf, so the
    // loss of class 1 is not finite) ...
    auto l = F::balanced_softmax_cross_entropy(x, y, zero_count);
    EXPECT_FALSE(std::isfinite(l.item<double>()));
    {
      ltcl::losses::TrustedInputs nested;
    }
    EXPECT_TRUE(ltcl::losses::inputs_trusted());  // restored, not cleared
    // ... but shapes are still checked.
    expect_error(
        [&] { F::cross_entropy(x, torch::tensor({0, 1, 2})); },
        {"cross_entropy", "[4, 3]", "[3]"});
  }
  EXPECT_FALSE(ltcl::losses::inputs_trusted());
  expect_error(
      [&] { F::balanced_softmax_cross_entropy(x, y, zero_count); },
      {"balanced_softmax_cross_entropy", "min 0"});
  expect_error(
      [&] { F::cross_entropy(x, torch::tensor({0, 1, 5, 1})); }, {"max 5"});
}

}  // namespace
