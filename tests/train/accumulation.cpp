// Gradient accumulation (optim.accumulation_steps):
// - split_step's micro-batch k holds rows k, k + K, ... of every tensor;
// - in process, on a BatchNorm-free stand-in forward (linear maps of the
//   pixels), each method's accumulated step over K micro-batches gives the
//   loss parts and every gradient of the whole-batch step (contrastive
//   methods through their embedding cache, the CE family through the mean
//   of micro-batch means);
// - end to end through `ltcl train` on IDX files written here (no
//   ../shared): 1 process x 4 micro-batches, 2 processes x 2 and, for BCL, 4
//   processes x 1 end one step with the same weights (dist.sync_bn false:
//   BatchNorm then normalises over the same micro-batches in every layout);
// - the config errors: a method without accumulation, a batch not divisible.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <random>

#include "ltcl/dist/context.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "ltcl/train/saved_model.h"
#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;
using ltcl::train::Config;
using ltcl::train::LossParts;

constexpr int64_t kC = 3;  // classes
constexpr int64_t kD = 8;  // embedding width
constexpr int64_t kPixels = 64;  // 1 x 8 x 8 images
const std::vector<int64_t> kCounts = {40, 12, 4};

TEST(SplitStep, MicroBatchKTakesEveryKthRowOfEveryTensor) {
  ltcl::pipeline::StepBatch s;
  s.main.labels = torch::arange(6, torch::kLong) * 10;
  s.main.indices = torch::arange(6, torch::kLong) + 100;
  s.main.views = {torch::arange(6 * 2, torch::kFloat).view({6, 2})};
  ltcl::pipeline::Batch bal;
  bal.labels = torch::arange(6, torch::kLong);
  bal.indices = torch::arange(6, torch::kLong);
  bal.views = {torch::arange(6, torch::kFloat).view({6, 1})};
  s.balanced = bal;
  auto parts = ltcl::pipeline::split_step(s, 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_TRUE(parts[1].main.labels.equal(torch::tensor({10, 40}, torch::kLong)));
  EXPECT_TRUE(
      parts[2].main.indices.equal(torch::tensor({102, 105}, torch::kLong)));
  EXPECT_TRUE(parts[0].main.views[0].equal(
      torch::tensor({0.f, 1.f, 6.f, 7.f}).view({2, 2})));
  ASSERT_TRUE(parts[2].balanced.has_value());
  EXPECT_TRUE(parts[2].balanced->views[0].equal(
      torch::tensor({2.f, 5.f}).view({2, 1})));
  ltcl::test::expect_error(
      [&] { ltcl::pipeline::split_step(s, 4); },
      {"split_step", "6 images", "4 equal"});
}

// A method with a network (for its prototypes and buffers) and a forward
// pass without BatchNorm: logits = x A, embeddings = normalize(x E), so the
// whole batch's gradient is a sum over images.
struct Harness {
  Config config;
  std::unique_ptr<ltcl::train::Method> method;
  std::shared_ptr<ltcl::models::NetworkImpl> net;
  ltcl::dist::Context ctx;
  torch::Tensor a, e;

  explicit Harness(const std::string& name) {
    config.loss.method = name;
    const auto& info = ltcl::train::method_info(name);
    if (info.preset) {
      info.preset(config);
    }
    config.model.arch = "resnet20";
    config.model.proj_hidden = 16;
    config.model.proj_dim = kD;
    method = ltcl::train::make_method(config);
    torch::manual_seed(0);
    net = ltcl::train::build_network(config, 1, kCounts, *method);
    method->setup(ltcl::train::MethodSetup{
        config, kCounts, torch::tensor(kCounts, torch::kLong), torch::kCPU,
        ctx});
    a = (torch::randn({kPixels, kC}) * 0.3).requires_grad_(true);
    e = (torch::randn({kPixels, kD}) * 0.3).requires_grad_(true);
  }

  ltcl::train::StepEnv env() {
    ltcl::train::StepEnv env;
    env.model = net.get();
    env.forward = [this](const torch::Tensor& x) {
      auto flat = x.reshape({x.size(0), -1});
      ltcl::models::NetworkOutput o;
      o.features = flat;
      o.logits = flat.matmul(a);
      o.embeddings = torch::nn::functional::normalize(
          flat.matmul(e),
          torch::nn::functional::NormalizeFuncOptions().dim(1));
      return o;
    };
    env.backward = [](const torch::Tensor& loss) { loss.backward(); };
    env.last_backward = [](bool) {};
    return env;
  }

  // Every gradient: the stand-in maps' and the network's (prototypes).
  std::map<std::string, torch::Tensor> grads() {
    std::map<std::string, torch::Tensor> g;
    g["A"] = a.grad().clone();
    if (e.grad().defined()) {  // embeddings: contrastive methods only
      g["E"] = e.grad().clone();
    }
    for (const auto& kv : net->named_parameters()) {
      if (kv.value().grad().defined()) {
        g[kv.key()] = kv.value().grad().clone();
      }
    }
    return g;
  }

  void zero_grads() {
    a.mutable_grad() = torch::Tensor();
    e.mutable_grad() = torch::Tensor();
    for (auto& p : net->parameters()) {
      p.mutable_grad() = torch::Tensor();
    }
  }
};

ltcl::pipeline::StepBatch step_batch(int64_t views, int64_t n) {
  ltcl::pipeline::StepBatch s;
  for (int64_t v = 0; v < views; ++v) {
    s.main.views.push_back(torch::rand({n, 1, 8, 8}));
  }
  // Every class present, the tail class in one micro-batch only.
  s.main.labels =
      torch::tensor({0, 1, 0, 2, 1, 0, 0, 1, 0, 1, 0, 0}, torch::kLong)
          .slice(0, 0, n);
  s.main.indices = torch::arange(n);
  return s;
}

class Accumulation : public ltcl::test::SeededTest,
                     public ::testing::WithParamInterface<std::string> {};

TEST_P(Accumulation, MicroBatchesGiveTheWholeBatchGradient) {
  // Two identical harnesses: one takes the whole batch, one K = 3.
  Harness h1(GetParam()), h3(GetParam());
  const int64_t views = ltcl::train::method_info(GetParam()).traits.views;
  auto batch = step_batch(views, 12);

  auto env1 = h1.env();
  LossParts whole = h1.method->step(batch, env1);
  whole.at("total").backward();
  auto g1 = h1.grads();

  auto env3 = h3.env();
  int backwards = 0, last_flags = 0;
  env3.backward = [&](const torch::Tensor& loss) {
    ++backwards;
    loss.backward();
  };
  env3.last_backward = [&](bool last) { last_flags += last ? 1 : 0; };
  LossParts acc =
      h3.method->accumulate(ltcl::pipeline::split_step(batch, 3), env3);
  auto g3 = h3.grads();

  EXPECT_EQ(backwards, 3);
  EXPECT_EQ(last_flags, 1);  // only the last backward starts the average
  for (const auto& [name, t] : whole) {
    ASSERT_TRUE(acc.count(name)) << name;
    EXPECT_NEAR(acc.at(name).item<double>(), t.item<double>(), 1e-5)
        << "loss part " << name;
  }
  ASSERT_EQ(g1.size(), g3.size());
  for (const auto& [name, g] : g1) {
    ASSERT_TRUE(g3.count(name)) << name;
    // Gradients smaller than 0.1 are compared to 1e-6 absolute: the bias
    // ahead of the prototype head's BatchNorm has a true gradient of 0 and
    // a float-noise one of ~5e-7 (seen with LibTorch 2.11).
    const double scale = std::max(1e-1, g.abs().max().item<double>());
    EXPECT_LT((g - g3.at(name)).abs().max().item<double>(), 1e-5 * scale)
        << "gradient of " << name << " (scale " << scale << ")";
  }
  // The buffers (the prototype head's BatchNorm) moved once, as in the
  // whole-batch step: the no-grad pass left no trace.
  auto b1 = h1.net->named_buffers();
  for (const auto& kv : h3.net->named_buffers()) {
    EXPECT_TRUE(kv.value().equal(b1[kv.key()])) << "buffer " << kv.key();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Methods,
    Accumulation,
    ::testing::Values(
        "ce", "la", "bs", "focal", "ldam_drw", "supcon_la", "bcl", "rcl",
        "bcl_rcl"));

// ---------------------------------------------------------------------------
// End to end
// ---------------------------------------------------------------------------

fs::path write_config(
    const ltcl::test::TempDir& dir,
    const std::string& method,
    int64_t accumulation) {
  const bool bcl = method == "bcl";
  fs::path p =
      dir / (method + "_" + std::to_string(accumulation) + ".yaml");
  std::ofstream(p) << "data:\n"
                      "  dataset: mnist\n"
                      "  root: "
                   << (dir / "idx").string()
                   << "\n"
                      "  validation: none\n"
                      "  workers: 1\n"
                      "  views: "
                   << (bcl ? "[cifar_weak, simclr, simclr]" : "[cifar_weak]")
                   << "\n"
                      "model:\n"
                      "  arch: resnet20\n"
                   << (bcl ? "  proj_hidden: 32\n  proj_dim: 16\n" : "")
                   << "loss:\n"
                      "  method: "
                   << method
                   << "\n"
                      "optim:\n"
                      "  lr: 0.1\n"
                      "  batch_size: 16\n"
                      "  accumulation_steps: "
                   << accumulation
                   << "\n"
                      "schedule:\n"
                      "  epochs: 1\n"
                      "  warmup_epochs: 0\n"
                      "train:\n"
                      "  select_on: last\n"
                      "  threads: 1\n"
                      "  max_steps_per_epoch: 1\n"
                      "dist:\n"
                      "  sync_bn: false\n"
                      "  timeout_s: 60\n"
                      "output:\n"
                      "  plots: false\n";
  return p;
}

// The largest difference of any parameter of two runs' last.pt, relative to
// the parameter's scale; and of the step's logged losses.
double weight_difference(const fs::path& a, const fs::path& b) {
  auto ma = ltcl::train::load_saved_model(a.string(), "cpu").model;
  auto mb = ltcl::train::load_saved_model(b.string(), "cpu").model;
  auto pb = mb->named_parameters();
  double worst = 0;
  for (const auto& kv : ma->named_parameters()) {
    const double scale = std::max(1.0, kv.value().abs().max().item<double>());
    worst = std::max(
        worst, (kv.value() - pb[kv.key()]).abs().max().item<double>() / scale);
  }
  return worst;
}

struct Layout {
  int nproc;
  int64_t accumulation;
};

// Trains `method` one step in each layout; returns each run's folder.
std::vector<fs::path> train_layouts(
    const ltcl::test::TempDir& dir,
    const std::string& method,
    const std::vector<Layout>& layouts) {
  ltcl::test::write_random_idx(dir / "idx", "train", 64);
  ltcl::test::write_random_idx(dir / "idx", "t10k", 20);
  std::vector<fs::path> outs;
  for (const auto& l : layouts) {
    auto cfg = write_config(dir, method, l.accumulation);
    fs::path out = dir / (method + "_" + std::to_string(l.nproc) + "x" +
                          std::to_string(l.accumulation));
    std::string log;
    EXPECT_EQ(
        ltcl::test::run_command(
            ltcl::test::train_cmd(
                cfg, out, "--nproc " + std::to_string(l.nproc)),
            &log),
        0)
        << log;
    outs.push_back(out);
  }
  return outs;
}

TEST(AccumulationEndToEnd, OneProcessTimesFourEqualsTwoTimesTwoForLA) {
  ltcl::test::TempDir dir;
  auto outs = train_layouts(dir, "la", {{1, 4}, {2, 2}, {1, 1}});
  ASSERT_TRUE(fs::exists(outs[1] / "last.pt"));
  // Float rounding only (other summation orders): 1e-7 seen.
  EXPECT_LT(weight_difference(outs[0] / "last.pt", outs[1] / "last.pt"), 1e-5);
  // Without accumulation BatchNorm normalises over 16 images, not 4: the
  // step differs, so the equality above is not a no-op.
  EXPECT_GT(weight_difference(outs[0] / "last.pt", outs[2] / "last.pt"), 1e-4);
}

TEST(AccumulationEndToEnd, OneTimesFourTwoTimesTwoFourTimesOneAgreeForBCL) {
  ltcl::test::TempDir dir;
  auto outs = train_layouts(dir, "bcl", {{1, 4}, {2, 2}, {4, 1}});
  ASSERT_TRUE(fs::exists(outs[2] / "last.pt"));
  EXPECT_LT(weight_difference(outs[0] / "last.pt", outs[1] / "last.pt"), 1e-5);
  EXPECT_LT(weight_difference(outs[0] / "last.pt", outs[2] / "last.pt"), 1e-5);
}

TEST(AccumulationConfig, MethodsWithoutItAndIndivisibleBatchesNameTheKey) {
  Config c;
  c.loss.method = "hybrid_sc";
  c.data.views = {"cifar_weak", "simclr", "simclr"};
  c.data.sampler = "random";
  c.optim.accumulation_steps = 2;
  ltcl::test::expect_error(
      [&] { ltcl::train::validate(c); },
      {"optim.accumulation_steps", "hybrid_sc", "does not support"});
  Config d;
  d.optim.batch_size = 10;
  d.optim.accumulation_steps = 4;
  ltcl::test::expect_error(
      [&] { ltcl::train::validate(d); },
      {"optim.accumulation_steps", "10", "4 micro-batches"});
}

}  // namespace
