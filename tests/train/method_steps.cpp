// Each method's step composition on fixed network outputs: which view feeds
// which loss, the weights of the parts, the presets the config layer applies,
// Hybrid's curriculum weight, LDAM-DRW's switch and ResCom's enqueue after
// the optimizer step. The forward pass is replaced by fixed tensors, the
// classification terms are computed by hand here (naive formulas), and the
// contrastive terms by the loss functions (tested against naive references
// in tests/losses/) with options written out here, not taken from presets.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ltcl/dist/context.h"
#include "ltcl/losses/classification.h"
#include "ltcl/losses/contrastive.h"
#include "ltcl/losses/hybrid.h"
#include "ltcl/losses/paco.h"
#include "ltcl/losses/proco.h"
#include "ltcl/losses/rescom.h"
#include "ltcl/models/heads.h"
#include "ltcl/models/network.h"
#include "ltcl/models/vmf.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "support.h"

namespace {

using ltcl::train::Config;
using ltcl::train::LossParts;

constexpr int64_t kB = 6;  // images per batch
constexpr int64_t kC = 3;  // classes
constexpr int64_t kD = 8;  // embedding width

const std::vector<int64_t> kCounts = {40, 12, 4};

// A method with its network and a forward pass that returns fixed outputs
// (one row per input image, in the order of the input).
struct Harness {
  Config config;
  std::unique_ptr<ltcl::train::Method> method;
  std::shared_ptr<ltcl::models::NetworkImpl> net;
  ltcl::dist::Context ctx;
  torch::Tensor logits, embeddings;  // [N, C], [N, D] for N input rows
  int64_t forward_rows = -1;  // rows the step fed to the forward pass
  // What env.forward_network (a method's other network) returns, and the
  // rows and network it was given.
  torch::Tensor other_embeddings;
  int64_t other_rows = -1;
  const ltcl::models::NetworkImpl* other_net = nullptr;

  explicit Harness(Config c) : config(std::move(c)) {
    config.model.arch = "resnet20";
    config.model.proj_hidden = 16;
    config.model.proj_dim = kD;
    method = ltcl::train::make_method(config);
    torch::manual_seed(0);
    net = ltcl::train::build_network(config, 1, kCounts, *method);
    method->setup(ltcl::train::MethodSetup{
        config, kCounts, torch::tensor(kCounts, torch::kLong),
        torch::kCPU, ctx, net.get()});
  }

  void outputs(int64_t rows) {
    torch::manual_seed(rows);
    logits = torch::randn({rows, kC}, torch::kDouble).to(torch::kFloat) * 2;
    embeddings = torch::nn::functional::normalize(
        torch::randn({rows, kD}),
        torch::nn::functional::NormalizeFuncOptions().dim(1));
  }

  LossParts step(const ltcl::pipeline::StepBatch& batch, int64_t epoch) {
    ltcl::train::StepEnv env;
    env.epoch = epoch;
    env.model = net.get();
    env.forward = [this](const torch::Tensor& x) {
      forward_rows = x.size(0);
      ltcl::models::NetworkOutput o;
      o.logits = logits.slice(0, 0, x.size(0));
      o.embeddings = embeddings.slice(0, 0, x.size(0));
      o.features = torch::zeros({x.size(0), 4});
      return o;
    };
    env.forward_network = [this](ltcl::models::NetworkImpl& n,
                                 const torch::Tensor& x) {
      other_rows = x.size(0);
      other_net = &n;
      ltcl::models::NetworkOutput o;
      o.embeddings = other_embeddings.slice(0, 0, x.size(0));
      o.logits = torch::zeros({x.size(0), kC});
      o.features = torch::zeros({x.size(0), 4});
      return o;
    };
    return method->step(batch, env);
  }
};

ltcl::pipeline::Batch batch_of(int64_t views, const torch::Tensor& labels) {
  ltcl::pipeline::Batch b;
  for (int64_t v = 0; v < views; ++v) {
    b.views.push_back(torch::rand({labels.size(0), 1, 8, 8}));
  }
  b.labels = labels;
  b.indices = torch::arange(labels.size(0));
  return b;
}

torch::Tensor labels() {
  return torch::tensor({0, 1, 2, 0, 0, 1}, torch::kLong);
}

// mean_i -[log softmax(logits_i + prior)]_{y_i}, by hand.
double naive_ce(
    const torch::Tensor& logits,
    const torch::Tensor& y,
    const std::vector<double>& prior) {
  double sum = 0;
  auto l = logits.to(torch::kDouble);
  for (int64_t i = 0; i < l.size(0); ++i) {
    double mx = -1e300;
    std::vector<double> z(kC);
    for (int64_t c = 0; c < kC; ++c) {
      z[c] = l[i][c].item<double>() + prior[c];
      mx = std::max(mx, z[c]);
    }
    double s = 0;
    for (double v : z) {
      s += std::exp(v - mx);
    }
    sum += -(z[y[i].item<int64_t>()] - mx - std::log(s));
  }
  return sum / static_cast<double>(l.size(0));
}

std::vector<double> log_prior(double tau) {
  double n = 0;
  for (auto c : kCounts) {
    n += static_cast<double>(c);
  }
  std::vector<double> p;
  for (auto c : kCounts) {
    p.push_back(tau * std::log(static_cast<double>(c) / n));
  }
  return p;
}

double value(const LossParts& parts, const std::string& k) {
  EXPECT_TRUE(parts.count(k)) << "no loss part '" << k << "'";
  return parts.count(k) ? parts.at(k).item<double>() : NAN;
}

class MethodSteps : public ltcl::test::SeededTest {};

TEST_F(MethodSteps, ClassificationBaselinesUseViewZeroLogits) {
  const std::vector<double> zero(kC, 0.0);
  struct Case {
    std::string method;
    std::vector<double> prior;
  };
  for (const auto& k : std::vector<Case>{
           {"ce", zero}, {"la", log_prior(1.0)}, {"bs", log_prior(1.0)}}) {
    Harness h(ltcl::train::default_config(k.method));
    h.outputs(kB);
    ltcl::pipeline::StepBatch b{batch_of(1, labels()), std::nullopt};
    auto parts = h.step(b, 0);
    EXPECT_EQ(h.forward_rows, kB) << k.method;
    const double want = naive_ce(h.logits, labels(), k.prior);
    EXPECT_NEAR(value(parts, k.method), want, 1e-5) << k.method;
    EXPECT_NEAR(value(parts, "total"), want, 1e-5) << k.method;
    EXPECT_EQ(parts.size(), 2u) << k.method;
  }
}

TEST_F(MethodSteps, LogitAdjustmentStrengthComesFromTheConfig) {
  auto c = ltcl::train::default_config("la");
  c.loss.logit_adjusted.tau(0.5);
  Harness h(c);
  h.outputs(kB);
  ltcl::pipeline::StepBatch b{batch_of(1, labels()), std::nullopt};
  EXPECT_NEAR(
      value(h.step(b, 0), "total"),
      naive_ce(h.logits, labels(), log_prior(0.5)),
      1e-5);
}

TEST_F(MethodSteps, FocalDownWeightsEasySamples) {
  Harness h(ltcl::train::default_config("focal"));
  EXPECT_DOUBLE_EQ(h.config.loss.focal.gamma(), 2.0);  // the option's default
  h.outputs(kB);
  ltcl::pipeline::StepBatch b{batch_of(1, labels()), std::nullopt};
  auto lp = torch::log_softmax(h.logits.to(torch::kDouble), 1);
  double want = 0;
  for (int64_t i = 0; i < kB; ++i) {
    double l = lp[i][labels()[i].item<int64_t>()].item<double>();
    want += -std::pow(1 - std::exp(l), 2.0) * l;
  }
  EXPECT_NEAR(value(h.step(b, 0), "total"), want / kB, 1e-5);
}

TEST_F(MethodSteps, LdamDrwSwitchesItsClassWeightsOnAtDrwEpoch) {
  auto c = ltcl::train::default_config("ldam_drw");
  c.loss.drw_epoch = 3;
  Harness h(c);
  h.outputs(kB);
  ltcl::pipeline::StepBatch b{batch_of(1, labels()), std::nullopt};
  auto counts = torch::tensor(kCounts, torch::kLong);
  namespace F = ltcl::losses::functional;
  const auto options = ltcl::losses::LDAMLossOptions().max_margin(0.5).scale(30);
  const double plain =
      F::ldam_loss(h.logits, labels(), counts, options).item<double>();
  const double weighted =
      F::ldam_loss(
          h.logits, labels(), counts, options,
          ltcl::losses::drw_class_weights(kCounts, 0.9999))
          .item<double>();
  EXPECT_GT(std::abs(plain - weighted), 1e-3);
  EXPECT_NEAR(value(h.step(b, 2), "total"), plain, 1e-6);  // epoch 2: off
  EXPECT_NEAR(value(h.step(b, 3), "total"), weighted, 1e-6);  // from 3: on
}

// ProCo: LA-CE(view 0 logits) + alpha * the mean of the two views' ProCo
// losses, each view's embeddings first taken into the vMF estimator, in view
// order, then its loss read against the updated estimate (a replay with its
// own estimator gives the expected values); the epoch start resets it.
TEST_F(MethodSteps, ProcoUpdatesTheEstimatorPerViewBeforeItsLoss) {
  auto c = ltcl::train::default_config("proco");
  c.loss.extra_numbers["loss.proco_alpha"] = 0.7;
  c.train.seed = 5;
  Harness h(c);
  h.outputs(3 * kB);
  ltcl::train::EpochEnv e;
  e.epoch = 2;
  e.steps = 10;
  h.method->epoch_begin(e);
  ltcl::models::VmfEstimator replay(kC, kD);
  replay->start_epoch(5, 2);  // from the initial state, as the method's
  const auto y = labels();
  const auto counts = torch::tensor(kCounts, torch::kLong);
  double con = 0;
  for (int v = 1; v <= 2; ++v) {
    auto z = h.embeddings.slice(0, v * kB, (v + 1) * kB);
    replay->update(z, y);
    con += ltcl::losses::proco_loss(
               z, y, replay->mu(), replay->kappa(), counts, 0.1)
               .item<double>();
  }
  con /= 2;
  ltcl::pipeline::StepBatch b{batch_of(3, y), std::nullopt};
  auto parts = h.step(b, 2);
  EXPECT_EQ(h.forward_rows, 3 * kB);
  const double cls = naive_ce(h.logits.slice(0, 0, kB), y, log_prior(1.0));
  EXPECT_NEAR(value(parts, "la_ce"), cls, 1e-5);
  EXPECT_NEAR(value(parts, "proco"), con, 1e-5);
  EXPECT_NEAR(value(parts, "total"), cls + 0.7 * con, 1e-5);
  // The model's estimator holds what the replay holds.
  auto state = h.net->named_buffers();
  EXPECT_TRUE(torch::allclose(state["proco_vmf.old_ave"], replay->old_ave));
  EXPECT_TRUE(torch::allclose(state["proco_vmf.cur_amount"], replay->cur_amount));
  // A resumed epoch (first step > 0) keeps the estimates.
  e.first_step = 4;
  h.method->epoch_begin(e);
  EXPECT_TRUE(torch::allclose(h.net->named_buffers()["proco_vmf.cur_amount"],
                              replay->cur_amount));
}

// alpha * LA-CE(view 0 logits) + beta * contrastive(view 1, view 2
// embeddings), with each preset's switches.
TEST_F(MethodSteps, ContrastiveCoreWeightsAndPresets) {
  using Opt = ltcl::losses::ContrastiveLossOptions;
  struct Case {
    std::string method;
    Opt options;
  };
  const std::vector<Case> cases = {
      {"supcon_la", Opt().temperature(0.1)},
      {"bcl", Opt().temperature(0.1).class_averaging(true).class_complement(true)},
      {"rcl", Opt().temperature(0.1).balance(1).feature_scale(1.5).margin_max(0.1)},
      {"bcl_rcl",
       Opt().temperature(0.1).class_averaging(true).class_complement(true)
           .balance(1).feature_scale(1.5).margin_max(0.1)},
  };
  for (const auto& k : cases) {
    Harness h(ltcl::train::default_config(k.method));
    h.outputs(3 * kB);
    ltcl::pipeline::StepBatch b{batch_of(3, labels()), std::nullopt};
    auto parts = h.step(b, 0);
    EXPECT_EQ(h.forward_rows, 3 * kB) << k.method;
    const double la =
        naive_ce(h.logits.slice(0, 0, kB), labels(), log_prior(1.0));
    auto z = torch::stack(
        {h.embeddings.slice(0, kB, 2 * kB), h.embeddings.slice(0, 2 * kB)},
        1);
    auto protos = k.options.class_complement() ? h.net->prototypes()
                                               : torch::Tensor();
    const double con = ltcl::losses::functional::contrastive_loss(
                           z, labels(), protos,
                           torch::tensor(kCounts, torch::kLong), k.options)
                           .item<double>();
    EXPECT_NEAR(value(parts, "la_ce"), la, 1e-5) << k.method;
    EXPECT_NEAR(value(parts, "contrastive"), con, 1e-5) << k.method;
    // alpha 2, beta 0.6 (METHODS.md, CIFAR recipes).
    EXPECT_NEAR(value(parts, "total"), 2.0 * la + 0.6 * con, 1e-4)
        << k.method;
  }
}

TEST_F(MethodSteps, HybridCurriculumWeight) {
  for (const std::string m : {"hybrid_sc", "hybrid_psc"}) {
    auto c = ltcl::train::default_config(m);
    c.schedule.epochs = 4;
    Harness h(c);
    h.outputs(3 * kB);
    auto yb = torch::tensor({0, 1, 2, 2, 1, 0}, torch::kLong);
    ltcl::pipeline::StepBatch b{batch_of(2, labels()), batch_of(1, yb)};
    // The classifier branch: CE of the class-balanced batch (rows 2B..3B).
    const double ce = naive_ce(
        h.logits.slice(0, 2 * kB), yb, std::vector<double>(kC, 0.0));
    auto first = h.step(b, 0);
    EXPECT_EQ(h.forward_rows, 3 * kB) << m;
    const double con = value(first, "contrastive");
    EXPECT_NEAR(value(first, "balanced_ce"), ce, 1e-5) << m;
    // alpha = 1 - (epoch / epochs)^2: 1 at epoch 0, 0.75 at epoch 2.
    EXPECT_NEAR(value(first, "total"), con, 1e-6) << m;
    auto later = h.step(b, 2);
    EXPECT_NEAR(value(later, "total"), 0.75 * con + 0.25 * ce, 1e-5) << m;
  }
}

TEST_F(MethodSteps, HybridScContrastsTheInstanceViews) {
  Harness h(ltcl::train::default_config("hybrid_sc"));
  h.outputs(3 * kB);
  ltcl::pipeline::StepBatch b{batch_of(2, labels()), batch_of(1, labels())};
  auto z = torch::stack(
      {h.embeddings.slice(0, 0, kB), h.embeddings.slice(0, kB, 2 * kB)}, 1);
  const double want =
      ltcl::losses::functional::contrastive_loss(
          z, labels(), torch::Tensor(), torch::tensor(kCounts, torch::kLong),
          ltcl::losses::ContrastiveLossOptions().temperature(0.1))
          .item<double>();
  EXPECT_NEAR(value(h.step(b, 0), "contrastive"), want, 1e-5);
}

TEST_F(MethodSteps, HybridPscAttachesItsPrototypes) {
  Harness h(ltcl::train::default_config("hybrid_psc"));
  auto params = h.net->named_parameters();
  ASSERT_TRUE(params.contains("psc_prototypes.weight"));
  EXPECT_EQ(params["psc_prototypes.weight"].sizes(),
            (std::vector<int64_t>{kC, kD}));
  h.outputs(3 * kB);
  ltcl::pipeline::StepBatch b{batch_of(2, labels()), batch_of(1, labels())};
  const double want =
      ltcl::losses::functional::psc_loss(
          h.embeddings.slice(0, 0, 2 * kB), torch::cat({labels(), labels()}),
          params["psc_prototypes.weight"],
          ltcl::losses::PSCLossOptions().temperature(0.1))
          .item<double>();
  EXPECT_NEAR(value(h.step(b, 0), "contrastive"), want, 1e-5);
}

TEST_F(MethodSteps, ResComEnqueuesAfterTheOptimizerStep) {
  Harness h(ltcl::train::default_config("rescom"));
  auto buffers = h.net->named_buffers();
  ASSERT_TRUE(buffers.contains("rescom_queue.count"));
  h.outputs(2 * kB);
  ltcl::pipeline::StepBatch b{batch_of(2, labels()), std::nullopt};
  auto parts = h.step(b, 0);
  EXPECT_EQ(h.forward_rows, 2 * kB);
  // Nothing enqueued by the step itself.
  EXPECT_EQ(buffers["rescom_queue.count"].sum().item<int64_t>(), 0);
  const double bs = ltcl::losses::functional::siamese_balanced_softmax(
                        h.logits.slice(0, 0, kB), h.logits.slice(0, kB),
                        labels(), torch::tensor(kCounts, torch::kLong))
                        .item<double>();
  EXPECT_NEAR(value(parts, "bs_ce"), bs, 1e-5);
  EXPECT_NEAR(
      value(parts, "total"), bs + 0.5 * value(parts, "contrastive"), 1e-5);
  h.method->after_step();
  // The first views' embeddings, per class: 3 of class 0, 2 of 1, 1 of 2.
  auto count = buffers["rescom_queue.count"];
  EXPECT_EQ(count[0].item<int64_t>(), 3);
  EXPECT_EQ(count[1].item<int64_t>(), 2);
  EXPECT_EQ(count[2].item<int64_t>(), 1);
  auto keys = buffers["rescom_queue.keys"];  // [C, Q, D]
  EXPECT_TRUE(keys[2][0].allclose(h.embeddings[2])) << keys[2][0];
  h.method->after_step();  // nothing pending: no second enqueue
  EXPECT_EQ(buffers["rescom_queue.count"].sum().item<int64_t>(), 6);
}

// PaCo / GPaCo: one loss, paco_loss, on the centre logits plus the log
// prior log(pi + 1e-9), with the contrast set laid out as the official code
// (the batch's anchors / keys, then the queue as it was before the step);
// after the optimizer step the queue takes the step's keys and PaCo's key
// encoder moves towards the model by 1 - m.
torch::Tensor centre_logits(const torch::Tensor& logits) {
  std::vector<double> lp;
  double n = 0;
  for (auto c : kCounts) {
    n += static_cast<double>(c);
  }
  for (auto c : kCounts) {
    lp.push_back(std::log(static_cast<double>(c) / n + 1e-9));
  }
  return logits + torch::tensor(lp, torch::kDouble).to(torch::kFloat);
}

TEST_F(MethodSteps, GpacoBothViewsAnchorAgainstBatchAndQueue) {
  auto c = ltcl::train::default_config("gpaco");
  c.loss.extra_numbers["loss.paco_alpha"] = 0.3;
  c.loss.extra_numbers["loss.paco_tau"] = 0.5;
  c.loss.extra_numbers["loss.paco_queue"] = 8;
  Harness h(c);
  EXPECT_FALSE(h.net->head->bn) << "GPaCo's projection head has no BatchNorm";
  EXPECT_FALSE(h.net->named_modules().contains("paco_key"));
  h.outputs(2 * kB);
  auto buffers = h.net->named_buffers();
  const auto q0 = buffers["paco_queue.keys"].clone();
  const auto l0 = buffers["paco_queue.labels"].clone();
  ASSERT_EQ(q0.sizes(), (std::vector<int64_t>{8, kD}));
  const auto y = labels();
  ltcl::pipeline::StepBatch b{batch_of(2, y), std::nullopt};
  auto parts = h.step(b, 0);
  EXPECT_EQ(h.forward_rows, 2 * kB);
  const auto z0 = h.embeddings.slice(0, 0, kB), z1 = h.embeddings.slice(0, kB);
  const double want =
      ltcl::losses::paco_loss(
          centre_logits(h.logits), h.embeddings, torch::cat({y, y}),
          torch::cat({z0, z1, q0}), torch::cat({y, y, l0}),
          torch::arange(2 * kB), 0.3, 0.5)
          .item<double>();
  EXPECT_NEAR(value(parts, "paco"), want, 1e-6);
  EXPECT_NEAR(value(parts, "total"), want, 1e-6);
  // Before the optimizer step the queue is untouched; after it, view 1's
  // embeddings fill slots 0..5.
  EXPECT_TRUE(torch::equal(h.net->named_buffers()["paco_queue.keys"], q0));
  h.method->after_step();
  buffers = h.net->named_buffers();
  EXPECT_TRUE(torch::allclose(buffers["paco_queue.keys"].slice(0, 0, kB), z1));
  EXPECT_TRUE(torch::equal(buffers["paco_queue.keys"].slice(0, kB), q0.slice(0, kB)));
  EXPECT_TRUE(torch::equal(buffers["paco_queue.labels"].slice(0, 0, kB), y));
  EXPECT_EQ(buffers["paco_queue.position"].item<int64_t>(), kB);
}

TEST_F(MethodSteps, PacoQueriesAgainstMomentumKeysAndQueue) {
  auto c = ltcl::train::default_config("paco");
  c.loss.extra_numbers["loss.paco_alpha"] = 0.2;
  c.loss.extra_numbers["loss.paco_tau"] = 0.3;
  c.loss.extra_numbers["loss.paco_queue"] = 8;
  c.loss.extra_numbers["loss.paco_momentum"] = 0.9;
  Harness h(c);
  EXPECT_TRUE(h.net->head->bn) << "PaCo keeps the BatchNorm head";
  // The key encoder: a copy of the model as built, never trained.
  auto params = h.net->named_parameters();
  const std::string w = "backbone.conv1.weight";
  ASSERT_TRUE(params.contains(w) && params.contains("paco_key." + w));
  EXPECT_TRUE(torch::equal(params[w], params["paco_key." + w]));
  EXPECT_TRUE(params[w].requires_grad());
  EXPECT_FALSE(params["paco_key." + w].requires_grad());
  h.outputs(kB);
  torch::manual_seed(9);
  h.other_embeddings = torch::nn::functional::normalize(
      torch::randn({kB, kD}),
      torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto q0 = h.net->named_buffers()["paco_queue.keys"].clone();
  const auto l0 = h.net->named_buffers()["paco_queue.labels"].clone();
  const auto y = labels();
  ltcl::pipeline::StepBatch b{batch_of(2, y), std::nullopt};
  auto parts = h.step(b, 0);
  EXPECT_EQ(h.forward_rows, kB);  // view 0 only
  EXPECT_EQ(h.other_rows, kB);  // view 1 through the key encoder
  EXPECT_EQ(h.other_net, h.net->named_modules()["paco_key"].get());
  const auto& k = h.other_embeddings;
  const double want =
      ltcl::losses::paco_loss(
          centre_logits(h.logits), h.embeddings, y,
          torch::cat({h.embeddings, k, q0}), torch::cat({y, y, l0}),
          torch::arange(kB), 0.2, 0.3)
          .item<double>();
  EXPECT_NEAR(value(parts, "total"), want, 1e-6);
  // The optimizer moved the model by +1 (here: by hand); after the step the
  // key encoder's backbone and head are 0.9 k + 0.1 q, its classifier stays.
  const auto k_before = params["paco_key." + w].clone();
  const auto cls_before = params["paco_key.linear.weight"].clone();
  {
    torch::NoGradGuard no_grad;
    params[w].add_(1.0);
    params["head.fc2.weight"].add_(1.0);
    params["linear.weight"].add_(1.0);
  }
  const auto head_before = params["paco_key.head.fc2.weight"].clone();
  h.method->after_step();
  EXPECT_TRUE(torch::allclose(params["paco_key." + w], k_before + 0.1, 0, 1e-6));
  EXPECT_TRUE(torch::allclose(
      params["paco_key.head.fc2.weight"], head_before + 0.1, 0, 1e-6));
  EXPECT_TRUE(torch::equal(params["paco_key.linear.weight"], cls_before));
  auto buffers = h.net->named_buffers();
  EXPECT_TRUE(torch::allclose(buffers["paco_queue.keys"].slice(0, 0, kB), k));
  EXPECT_EQ(buffers["paco_queue.position"].item<int64_t>(), kB);
}

}  // namespace
