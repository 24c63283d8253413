// train::LossScaler on hand-computed values: scaling, unscaling in place,
// skip-and-backoff on a non-finite gradient, growth after the interval, and
// the checkpoint state round trip.
#include "ltcl/train/loss_scaler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "ltcl/util/error.h"

namespace {

using ltcl::train::LossScaler;
using ltcl::train::LossScalerOptions;

torch::Tensor param_with_grad(std::vector<float> g) {
  auto p = torch::zeros({static_cast<int64_t>(g.size())}).requires_grad_();
  p.mutable_grad() = torch::tensor(g);
  return p;
}

TEST(LossScaler, ScalesUnscalesAndGrows) {
  LossScalerOptions o;
  o.init_scale = 4.0;
  o.growth_interval = 2;
  LossScaler s(o);
  EXPECT_DOUBLE_EQ(s.scale(torch::tensor(1.5)).item<double>(), 6.0);
  auto a = param_with_grad({2.0f, -4.0f});
  auto b = torch::zeros({1}).requires_grad_();  // no gradient: skipped
  EXPECT_TRUE(s.unscale({a, b}));
  EXPECT_TRUE(torch::equal(a.grad(), torch::tensor({0.5f, -1.0f})));
  s.update(true);
  EXPECT_DOUBLE_EQ(s.value(), 4.0);  // 1 of 2 finite steps
  EXPECT_EQ(s.finite_steps(), 1);
  s.update(true);
  EXPECT_DOUBLE_EQ(s.value(), 8.0);  // grown after 2
  EXPECT_EQ(s.finite_steps(), 0);
}

TEST(LossScaler, NonFiniteGradientSkipsAndBacksOff) {
  LossScalerOptions o;
  o.init_scale = 8.0;
  o.growth_interval = 3;
  LossScaler s(o);
  s.update(true);
  auto a = param_with_grad({1.0f, std::numeric_limits<float>::infinity()});
  auto c = param_with_grad({8.0f});
  EXPECT_FALSE(s.unscale({a, c}));
  // Every gradient is still unscaled (the caller skips the step).
  EXPECT_FLOAT_EQ(c.grad()[0].item<float>(), 1.0f);
  s.update(false);
  EXPECT_DOUBLE_EQ(s.value(), 4.0);
  EXPECT_EQ(s.finite_steps(), 0);
  auto n = param_with_grad({std::numeric_limits<float>::quiet_NaN()});
  EXPECT_FALSE(s.unscale({n}));
}

TEST(LossScaler, StateRoundTripsAndBadInputsAreErrors) {
  LossScalerOptions o;
  o.init_scale = 32.0;
  LossScaler s(o);
  s.update(true);
  s.update(true);
  LossScaler t;
  t.load_state(s.state());
  EXPECT_DOUBLE_EQ(t.value(), 32.0);
  EXPECT_EQ(t.finite_steps(), 2);
  EXPECT_THROW(t.load_state(torch::tensor({1.0})), ltcl::Error);
  EXPECT_THROW(t.load_state(torch::tensor({-1.0, 0.0})), ltcl::Error);
  LossScalerOptions bad;
  bad.backoff = 1.0;
  EXPECT_THROW(LossScaler{bad}, ltcl::Error);
  bad = {};
  bad.growth = 1.0;
  EXPECT_THROW(LossScaler{bad}, ltcl::Error);
}

}  // namespace
