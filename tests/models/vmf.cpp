// ProCo's vMF estimators (models/vmf.h) against a naive replay written here
// from METHODS.md section 9: after a reset, Ave is the plain mean of every
// sample of the class since then; old carries the previous epoch on; kappa
// = p R / (1 - R^2) with its clamp at 1e5; the reset draw is a pure
// function of (seed, epoch); the state round-trips through the buffers.
#include "ltcl/models/vmf.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "support.h"

namespace {

using ltcl::models::VmfEstimator;

class Vmf : public ltcl::test::SeededTest {};

TEST_F(Vmf, AveIsTheMeanOfEverySampleSinceTheReset) {
  VmfEstimator e(3, 4);
  e->start_epoch(7, 1);  // old <- the initial state, current reset
  std::vector<torch::Tensor> zs, ys;
  for (int b = 0; b < 4; ++b) {
    zs.push_back(torch::randn({5, 4}));
    ys.push_back(torch::tensor({0, 0, 1, b % 2 == 0 ? 0 : 1, 0}, torch::kLong));
    e->update(zs.back(), ys.back());
  }
  auto z = torch::cat(zs);
  auto y = torch::cat(ys);
  // Class 2 never seen: current keeps its reset vector, length 0.9.
  for (int64_t c = 0; c < 2; ++c) {
    auto want = z.index({y == c}).mean(0);
    EXPECT_TRUE(torch::allclose(e->cur_ave[c], want, 1e-5, 1e-6)) << c;
    EXPECT_EQ(e->cur_amount[c].item<double>(), (y == c).sum().item<double>());
  }
  EXPECT_NEAR(e->cur_ave[2].norm().item<double>(), 0.9, 1e-6);
  EXPECT_EQ(e->cur_amount[2].item<double>(), 0.0);
  // old had Amount 0 too (the initial state): the same means.
  EXPECT_TRUE(torch::allclose(e->old_ave.narrow(0, 0, 2), e->cur_ave.narrow(0, 0, 2)));

  // Next epoch: old starts from current (the whole previous epoch) and
  // keeps averaging: its Ave is the mean over both epochs' samples.
  e->start_epoch(7, 2);
  auto z2 = torch::randn({6, 4});
  auto y2 = torch::tensor({0, 1, 1, 0, 2, 2}, torch::kLong);
  e->update(z2, y2);
  auto all_z = torch::cat({z, z2});
  auto all_y = torch::cat({y, y2});
  for (int64_t c = 0; c < 2; ++c) {
    auto want = all_z.index({all_y == c}).mean(0);
    EXPECT_TRUE(torch::allclose(e->old_ave[c], want, 1e-5, 1e-6)) << c;
    auto cur = z2.index({y2 == c}).mean(0);
    EXPECT_TRUE(torch::allclose(e->cur_ave[c], cur, 1e-5, 1e-6)) << c;
  }
  // Class 2: first seen now; old had Amount 0 for it, so its mean alone.
  EXPECT_TRUE(torch::allclose(e->old_ave[2], z2.index({y2 == 2}).mean(0), 1e-5, 1e-6));
}

TEST_F(Vmf, KappaAndMuByHand) {
  VmfEstimator e(3, 128);
  torch::NoGradGuard no_grad;
  e->old_ave.zero_();
  e->old_ave[0][0] = 0.5;   // R 0.5: kappa = 128 * 0.5 / 0.75
  e->old_ave[1][1] = -0.9;  // R 0.9: 128 * 0.9 / 0.19
  e->old_ave[2][2] = 0.99999;  // R near 1: 6.4e6 -> clamped to 1e5
  auto k = e->kappa();
  EXPECT_NEAR(k[0].item<double>(), 128 * 0.5 / 0.75, 1e-3);
  EXPECT_NEAR(k[1].item<double>(), 128 * 0.9 / 0.19, 1e-2);
  EXPECT_EQ(k[2].item<double>(), 1e5);
  auto mu = e->mu();
  EXPECT_NEAR(mu[1][1].item<double>(), -1.0, 1e-6);
  EXPECT_NEAR(mu.norm(2, {1}).sum().item<double>(), 3.0, 1e-5);
}

TEST_F(Vmf, ResetIsAPureFunctionOfSeedAndEpochAndStateRoundTrips) {
  VmfEstimator a(4, 8), b(4, 8);
  a->start_epoch(3, 5);
  b->start_epoch(3, 5);
  EXPECT_TRUE(torch::equal(a->cur_ave, b->cur_ave));
  b->start_epoch(3, 6);
  EXPECT_FALSE(torch::equal(a->cur_ave, b->cur_ave));
  EXPECT_NEAR(a->cur_ave.norm(2, {1}).mean().item<double>(), 0.9, 1e-6);
  // A copy of the four buffers continues identically.
  a->update(torch::randn({10, 8}), torch::randint(0, 4, {10}));
  VmfEstimator c(4, 8);
  {
    torch::NoGradGuard no_grad;
    auto src = a->named_buffers();
    for (auto& kv : c->named_buffers()) {
      kv.value().copy_(src[kv.key()]);
    }
  }
  auto z = torch::randn({7, 8});
  auto y = torch::randint(0, 4, {7});
  a->update(z, y);
  c->update(z, y);
  EXPECT_TRUE(torch::equal(a->old_ave, c->old_ave));
  EXPECT_TRUE(torch::equal(a->kappa(), c->kappa()));
  EXPECT_EQ(a->named_buffers().size(), 4u);
}

TEST(VmfErrors, BadShapesAndLabelsAreNamed) {
  using ltcl::test::expect_error;
  VmfEstimator e(3, 4);
  expect_error([&] { e->update(torch::randn({2, 5}), torch::zeros({2}, torch::kLong)); },
               {"z [B, 4]"});
  expect_error([&] { e->update(torch::randn({2, 4}), torch::tensor({0, 3})); },
               {"labels must be in [0, 3)", "0 .. 3"});
  expect_error([] { VmfEstimator(0, 4); }, {"1 class"});
}

}  // namespace
