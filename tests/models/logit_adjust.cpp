// NetworkOptions::adjust: the evaluation-time logit transforms of METHODS.md
// section 8 (post-hoc logit adjustment, tau-normalisation) against
// hand-computed values, applied in eval mode only, and the same in the
// exported TorchScript model.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>

#include "ltcl/models/export.h"
#include "ltcl/models/network.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::models;

class LogitAdjustTest : public ltcl::test::SeededTest {};

// A two-class ResNet-20 whose classifier reads only features 0 and 1:
// W = [[a, b, 0...], [c, d, 0...]], bias [b0, b1].
Network two_class(
    const std::string& adjust,
    double tau,
    bool bias,
    std::vector<float> w,
    std::vector<float> b,
    std::vector<float> scale = {}) {
  Network net(NetworkOptions()
                  .arch("resnet20")
                  .num_classes(2)
                  .in_channels(1)
                  .proj_dim(0)
                  .adjust(adjust)
                  .adjust_tau(tau)
                  .tau_norm_bias(bias)
                  .class_scale(!scale.empty()));
  torch::NoGradGuard no_grad;
  net->linear->weight.zero_();
  net->linear->weight[0][0] = w[0];
  net->linear->weight[0][1] = w[1];
  net->linear->weight[1][0] = w[2];
  net->linear->weight[1][1] = w[3];
  net->linear->bias[0] = b[0];
  net->linear->bias[1] = b[1];
  if (!scale.empty()) {
    net->class_scale[0] = scale[0];
    net->class_scale[1] = scale[1];
  }
  return net;
}

torch::Tensor features_01(float f0, float f1) {
  auto f = torch::zeros({1, 64});
  f[0][0] = f0;
  f[0][1] = f1;
  return f;
}

void expect_logits(const torch::Tensor& got, double l0, double l1) {
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(got[0][0].item<double>(), l0, 1e-5);
  EXPECT_NEAR(got[0][1].item<double>(), l1, 1e-5);
}

TEST_F(LogitAdjustTest, PosthocLaSubtractsTheLogPriorByHand) {
  // Counts 30 / 10: pi = 0.75 / 0.25. Raw logits: 2 * 1 + 0.5 = 2.5 and
  // 1 * 3 - 0.5 = 2.5, a tie that the prior breaks towards the tail class.
  auto net = two_class("posthoc_la", 1.0, false, {2, 0, 0, 1}, {0.5f, -0.5f});
  net->set_class_counts({30, 10});
  expect_logits(net->adjusted_logits(features_01(1, 3)),
                2.5 - std::log(0.75), 2.5 - std::log(0.25));
  ASSERT_TRUE(net->adjust_offset().defined());
  EXPECT_NEAR(net->adjust_offset()[0].item<double>(), -0.2876820724517809, 1e-6);
  EXPECT_NEAR(net->adjust_offset()[1].item<double>(), -1.3862943611198906, 1e-6);
  EXPECT_EQ(net->adjust_description(), "posthoc_la (tau 1)");

  // tau 2: log(pi^2) = 2 log(pi).
  auto net2 = two_class("posthoc_la", 2.0, false, {2, 0, 0, 1}, {0.5f, -0.5f});
  net2->set_class_counts({30, 10});
  expect_logits(net2->adjusted_logits(features_01(1, 3)),
                2.5 + 0.5753641449035618, 2.5 + 2.772588722239781);

  // tau 0: log(1 + 1e-12), the same shift for every class.
  auto net0 = two_class("posthoc_la", 0.0, false, {2, 0, 0, 1}, {0.5f, -0.5f});
  net0->set_class_counts({30, 10});
  expect_logits(net0->adjusted_logits(features_01(1, 3)), 2.5, 2.5);
}

// LWS: logit_c = s_c * (w_c . f + b_c), the bias scaled too (the official
// code), in training and evaluation; post-hoc LA applies on top.
TEST_F(LogitAdjustTest, LwsScalesTheLogitsBiasIncludedByHand) {
  // Raw logits 2 * 1 + 0.5 = 2.5 and 1 * 3 - 0.5 = 2.5; scales 0.5 and 2.
  auto net =
      two_class("none", 1.0, false, {2, 0, 0, 1}, {0.5f, -0.5f}, {0.5f, 2.0f});
  ASSERT_TRUE(net->class_scale.defined());
  EXPECT_TRUE(net->class_scale.requires_grad());
  expect_logits(net->classifier_logits(features_01(1, 3)), 1.25, 5.0);
  expect_logits(net->adjusted_logits(features_01(1, 3)), 1.25, 5.0);
  // Starts at 1: an LWS stage 2 begins from the stage-1 logits.
  Network fresh(NetworkOptions().arch("resnet20").num_classes(3).class_scale(
      true));
  EXPECT_TRUE(torch::equal(fresh->class_scale, torch::ones({3})));
  auto la = two_class(
      "posthoc_la", 1.0, false, {2, 0, 0, 1}, {0.5f, -0.5f}, {0.5f, 2.0f});
  la->set_class_counts({30, 10});
  expect_logits(la->adjusted_logits(features_01(1, 3)),
                1.25 - std::log(0.75), 5.0 - std::log(0.25));
  // The gradient reaches the scale: d(logit_c)/d(s_c) = w_c . f + b_c.
  auto out = net->classifier_logits(features_01(1, 3));
  out.sum().backward();
  EXPECT_NEAR(net->class_scale.grad()[0].item<double>(), 2.5, 1e-6);
  EXPECT_NEAR(net->class_scale.grad()[1].item<double>(), 2.5, 1e-6);
  // tau_norm replaces the rows: with LWS it is refused.
  EXPECT_THROW(
      Network(NetworkOptions().arch("resnet20").adjust("tau_norm").class_scale(
          true)),
      ltcl::Error);
}

TEST_F(LogitAdjustTest, TauNormDividesTheRowsByTheirNormByHand) {
  // Rows (3, 4) and (0, 2): norms 5 and 2; features (1, 1): w . f = 7, 2.
  auto net = two_class("tau_norm", 1.0, false, {3, 4, 0, 2}, {1.0f, -1.0f});
  expect_logits(net->adjusted_logits(features_01(1, 1)), 7.0 / 5, 2.0 / 2);
  EXPECT_EQ(net->adjust_description(), "tau_norm (tau 1, no bias)");

  auto half = two_class("tau_norm", 0.5, false, {3, 4, 0, 2}, {1.0f, -1.0f});
  expect_logits(half->adjusted_logits(features_01(1, 1)),
                7.0 / std::sqrt(5.0), 2.0 / std::sqrt(2.0));

  // BagofTricks-LT's variant keeps the bias.
  auto with_bias = two_class("tau_norm", 1.0, true, {3, 4, 0, 2}, {1.0f, -1.0f});
  expect_logits(with_bias->adjusted_logits(features_01(1, 1)), 1.4 + 1, 1.0 - 1);

  // tau 0: the raw products without the bias.
  auto zero = two_class("tau_norm", 0.0, false, {3, 4, 0, 2}, {1.0f, -1.0f});
  expect_logits(zero->adjusted_logits(features_01(1, 1)), 7.0, 2.0);
}

TEST_F(LogitAdjustTest, NcmIsMinusTheSquaredDistanceToTheCentroidsByHand) {
  auto net = two_class("ncm", 1.0, false, {1, 0, 0, 1}, {0.0f, 0.0f});
  auto centroids = torch::zeros({2, 64});
  centroids[0][0] = 1;
  centroids[1][1] = 1;
  // Mean 0: x^ = (3, 4) / 5 = (0.6, 0.8); distances^2 0.8 and 0.4.
  net->set_ncm(torch::zeros({64}), centroids);
  expect_logits(net->adjusted_logits(features_01(3, 4)), -0.8, -0.4);
  // Mean (1, 0): x^ = (2, 4) / sqrt(20); 1.1055728 and 0.2111456.
  auto mean = torch::zeros({64});
  mean[0] = 1;
  net->set_ncm(mean, centroids);
  expect_logits(
      net->adjusted_logits(features_01(3, 4)), -1.1055728090000843,
      -0.2111456180001683);
  EXPECT_EQ(net->adjust_description(), "ncm");
  EXPECT_THROW(net->set_ncm(torch::zeros({63}), centroids), ltcl::Error);
  EXPECT_THROW(net->set_ncm(mean, torch::zeros({3, 64})), ltcl::Error);
  EXPECT_THROW(
      net->set_ncm(mean, torch::full({2, 64}, std::nan(""))), ltcl::Error);
  // No centroids: an evaluation is refused, not silently unadjusted.
  auto bare = two_class("ncm", 1.0, false, {1, 0, 0, 1}, {0.0f, 0.0f});
  EXPECT_THROW(bare->adjusted_logits(features_01(3, 4)), ltcl::Error);
}

// forward() applies the transform in eval mode only: the training loss
// always sees the classifier's own logits.
TEST_F(LogitAdjustTest, OnlyEvalModeForwardIsAdjusted) {
  for (const std::string kind : {"posthoc_la", "tau_norm"}) {
    Network net(NetworkOptions()
                    .arch("resnet20")
                    .num_classes(3)
                    .in_channels(1)
                    .proj_dim(8)
                    .adjust(kind)
                    .adjust_tau(0.7));
    net->set_class_counts({50, 7, 2});
    const auto x = torch::randn({4, 1, 16, 16});
    torch::NoGradGuard no_grad;
    net->train();
    auto t = net->forward(x);
    EXPECT_TRUE(torch::equal(t.logits, net->linear->forward(t.features)))
        << kind;
    net->eval();
    auto e = net->forward(x);
    const auto raw = net->linear->forward(e.features);
    EXPECT_TRUE(torch::allclose(e.logits, net->adjusted_logits(e.features)))
        << kind;
    EXPECT_GT((e.logits - raw).abs().max().item<double>(), 1e-3) << kind;
    if (kind == "posthoc_la") {
      // logits - log(pi^0.7 + 1e-12) per class, pi = 50/59, 7/59, 2/59.
      for (int c = 0; c < 3; ++c) {
        const double pi = std::vector<double>{50, 7, 2}[c] / 59.0;
        EXPECT_NEAR(
            (raw - e.logits).select(1, c).mean().item<double>(),
            std::log(std::pow(pi, 0.7) + 1e-12), 1e-5);
      }
    }
  }
  // "none" in eval mode: the classifier's logits.
  Network plain(NetworkOptions().arch("resnet20").num_classes(3).in_channels(1));
  plain->eval();
  torch::NoGradGuard no_grad;
  auto o = plain->forward(torch::randn({2, 1, 16, 16}));
  EXPECT_TRUE(torch::equal(o.logits, plain->linear->forward(o.features)));
  EXPECT_FALSE(plain->adjust_offset().defined());
}

TEST_F(LogitAdjustTest, BadOptionsAndCountsAreNamedErrors) {
  auto make = [](const std::string& adjust, double tau, const std::string& cls) {
    return Network(NetworkOptions()
                       .arch("resnet20")
                       .num_classes(2)
                       .in_channels(1)
                       .classifier(cls)
                       .adjust(adjust)
                       .adjust_tau(tau));
  };
  EXPECT_THROW(make("posthoc", 1, "linear"), ltcl::Error);
  EXPECT_THROW(make("posthoc_la", -1, "linear"), ltcl::Error);
  EXPECT_THROW(make("posthoc_la", std::nan(""), "linear"), ltcl::Error);
  EXPECT_THROW(make("tau_norm", 1, "cosine"), ltcl::Error);
  auto net = make("posthoc_la", 1, "linear");
  // No counts yet: an evaluation cannot silently skip the prior.
  net->eval();
  torch::NoGradGuard no_grad;
  EXPECT_THROW(net->forward(torch::randn({1, 1, 16, 16})), ltcl::Error);
  EXPECT_THROW(net->set_class_counts({1, 2, 3}), ltcl::Error);
  EXPECT_THROW(net->set_class_counts({5, -1}), ltcl::Error);
  EXPECT_THROW(net->set_class_counts({0, 0}), ltcl::Error);
  net->set_class_counts({0, 4});  // an absent class: pi 0, log(1e-12)
  EXPECT_NEAR(net->adjust_offset()[0].item<double>(), std::log(1e-12), 1e-3);
}

// The exported model's forward applies the same transform, and says which.
TEST_F(LogitAdjustTest, ExportedModelAppliesTheSameTransform) {
  struct Case {
    std::string adjust;
    double tau;
    bool bias;
    std::string description;
    bool lws = false;
  };
  for (const Case& c :
       {Case{"posthoc_la", 1.0, false, "posthoc_la (tau 1)"},
        Case{"tau_norm", 0.5, false, "tau_norm (tau 0.5, no bias)"},
        Case{"tau_norm", 1.0, true, "tau_norm (tau 1, bias kept)"},
        Case{"ncm", 1.0, false, "ncm"},
        Case{"none", 1.0, false, "none"},
        Case{"none", 1.0, false, "none", true},
        Case{"posthoc_la", 0.5, false, "posthoc_la (tau 0.5)", true},
        Case{"ncm", 1.0, false, "ncm", true}}) {
    Network net(NetworkOptions()
                    .arch("resnet20")
                    .num_classes(4)
                    .in_channels(3)
                    .proj_dim(0)
                    .adjust(c.adjust)
                    .adjust_tau(c.tau)
                    .tau_norm_bias(c.bias)
                    .class_scale(c.lws));
    net->set_class_counts({100, 30, 9, 3});
    if (c.lws) {
      torch::NoGradGuard no_grad;
      net->class_scale.uniform_(0.2, 3.0);
    }
    if (c.adjust == "ncm") {
      net->set_ncm(torch::randn({64}) * 0.1, torch::randn({4, 64}) * 0.2);
    }
    {
      torch::NoGradGuard no_grad;
      net->linear->bias.uniform_(-1, 1);  // a bias that shows if dropped
    }
    net->eval();
    ltcl::test::TempDir dir;
    const auto path = (dir / "model.ts").string();
    ExportOptions o;
    o.class_names = {"a", "b", "c", "d"};
    o.mean = {0.5f};
    o.std = {0.25f};
    o.channels = 3;
    o.height = o.width = 16;
    export_torchscript(*net, path, o);
    auto m = torch::jit::load(path);
    EXPECT_EQ(m.attr("logit_adjust").toStringRef(), c.description);
    const auto x = torch::randn({5, 3, 16, 16});
    torch::NoGradGuard no_grad;
    const auto mine = net->forward(x).logits;
    const auto theirs = m.forward({x}).toTensor();
    EXPECT_TRUE(torch::allclose(mine, theirs, 1e-5, 1e-5))
        << c.adjust << (c.lws ? " + LWS" : "") << ": max diff "
        << (mine - theirs).abs().max().item<double>();
  }
}

}  // namespace
