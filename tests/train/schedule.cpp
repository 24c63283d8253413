#include "ltcl/train/schedule.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::train::learning_rate;
using ltcl::train::ScheduleConfig;

TEST(Schedule, WarmupThenCosineHandValues) {
  ScheduleConfig s;
  s.epochs = 10;
  s.warmup_epochs = 2;
  s.kind = "cosine";
  // Warm-up over 2 epochs x 4 steps: base * (k + 1) / 8.
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 0, 0, 4), 0.0125);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 0, 3, 4), 0.05);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 1, 3, 4), 0.1);
  // Cosine over (10 - 2) * 4 = 32 steps.
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 2, 0, 4), 0.1);
  EXPECT_NEAR(learning_rate(s, 0.1, 6, 0, 4), 0.05, 1e-15);
  // t = 31: 0.05 * (1 + cos(31 pi / 32)), cos = -0.9951847266721968.
  EXPECT_NEAR(learning_rate(s, 0.1, 9, 3, 4), 0.00024076366639016, 1e-15);
  s.min_lr = 0.01;
  EXPECT_NEAR(learning_rate(s, 0.1, 6, 0, 4), 0.055, 1e-15);
}

TEST(Schedule, MultistepHandValues) {
  ScheduleConfig s;
  s.epochs = 200;
  s.warmup_epochs = 0;
  s.kind = "multistep";
  s.milestones = {120, 160};
  s.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.5, 0, 0, 10), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.5, 119, 9, 10), 0.5);
  EXPECT_NEAR(learning_rate(s, 0.5, 120, 0, 10), 0.05, 1e-15);
  EXPECT_NEAR(learning_rate(s, 0.5, 159, 0, 10), 0.05, 1e-15);
  EXPECT_NEAR(learning_rate(s, 0.5, 160, 0, 10), 0.005, 1e-15);
  EXPECT_NEAR(learning_rate(s, 0.5, 199, 9, 10), 0.005, 1e-15);
  s.warmup_epochs = 5;  // LDAM-DRW's recipe: warm-up then steps
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 0, 0, 10), 0.1 / 50);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 5, 0, 10), 0.1);
}

TEST(Schedule, PositionOutsideTheRunIsAnError) {
  ScheduleConfig s;
  s.epochs = 3;
  s.warmup_epochs = 0;
  EXPECT_THROW(learning_rate(s, 0.1, 3, 0, 4), ltcl::Error);
  EXPECT_THROW(learning_rate(s, 0.1, 0, 4, 4), ltcl::Error);
  EXPECT_THROW(learning_rate(s, 0.1, 0, 0, 0), ltcl::Error);
  EXPECT_THROW(learning_rate(s, 0.1, -1, 0, 4), ltcl::Error);
}

TEST(Schedule, SgdGroupsAndDecay) {
  torch::nn::Sequential m(torch::nn::Linear(3, 2), torch::nn::BatchNorm1d(2));
  ltcl::train::OptimConfig o;
  o.lr = 0.5;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 0.1;
  o.no_decay_bn_bias = true;
  auto sgd = ltcl::train::make_sgd(*m, o);
  ASSERT_EQ(sgd->param_groups().size(), 2u);
  EXPECT_EQ(sgd->param_groups()[0].params().size(), 1u);  // linear weight
  EXPECT_EQ(sgd->param_groups()[1].params().size(), 3u);  // bias, bn w/b
  auto& nd = static_cast<torch::optim::SGDOptions&>(
      sgd->param_groups()[1].options());
  EXPECT_DOUBLE_EQ(nd.weight_decay(), 0.0);
  EXPECT_TRUE(nd.nesterov());
  // Zero gradients: only decay moves a parameter. First nesterov step:
  // buf = d = wd * w, update = d + momentum * buf = 1.9 * wd * w.
  auto w0 = m[0]->as<torch::nn::Linear>()->weight.detach().clone();
  auto b0 = m[0]->as<torch::nn::Linear>()->bias.detach().clone();
  for (auto& p : m->parameters()) {
    p.mutable_grad() = torch::zeros_like(p);
  }
  sgd->step();
  EXPECT_TRUE(torch::allclose(
      m[0]->as<torch::nn::Linear>()->weight, w0 * (1 - 0.5 * 0.1 * 1.9)));
  EXPECT_TRUE(torch::equal(m[0]->as<torch::nn::Linear>()->bias, b0));
  ltcl::train::set_learning_rate(*sgd, 0.25);
  for (auto& g : sgd->param_groups()) {
    EXPECT_DOUBLE_EQ(g.options().get_lr(), 0.25);
  }
  // Without the switch: one group, decay everywhere.
  o.no_decay_bn_bias = false;
  EXPECT_EQ(ltcl::train::make_sgd(*m, o)->param_groups().size(), 1u);
  // The factory: optim.optimizer sgd is this SGD; another name is refused.
  auto made = ltcl::train::make_optimizer(*m, o);
  ASSERT_NE(dynamic_cast<torch::optim::SGD*>(made.get()), nullptr);
  EXPECT_EQ(made->param_groups().size(), 1u);
  o.optimizer = "adamw";
  ltcl::test::expect_error(
      [&] { ltcl::train::make_optimizer(*m, o); },
      {"optim.optimizer 'adamw'", "known: sgd"});
}

}  // namespace
