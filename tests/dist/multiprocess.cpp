// Multi-process tests of the c10d layer: 2 ranks on 127.0.0.1 (Gloo).
//
// The test binary is its own worker: each test launches 2 copies of
// /proc/self/exe through dist::spawn_local with LTCL_DIST_TEST_ROLE set; main()
// below sees the variable and runs that role instead of the test suite. The
// workers write their results (torch::save) into LTCL_DIST_TEST_DIR, and the
// test compares them with the same computation done in one process.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/dist/launcher.h"
#include "ltcl/dist/sync_batchnorm.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace dist = ltcl::dist;
namespace fs = std::filesystem;
using torch::Tensor;

constexpr const char* kRoleVar = "LTCL_DIST_TEST_ROLE";
constexpr const char* kDirVar = "LTCL_DIST_TEST_DIR";
constexpr const char* kTimeoutVar = "LTCL_DIST_TEST_TIMEOUT_MS";
constexpr int kWorld = 2;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

dist::Context worker_context() {
  dist::ContextOptions opts;
  opts.timeout =
      std::chrono::milliseconds(std::stoll(env_or(kTimeoutVar, "20000")));
  return dist::Context::from_env(opts);
}

fs::path out_file(const std::string& dir, const std::string& what, int rank) {
  return fs::path(dir) / (what + "_" + std::to_string(rank) + ".pt");
}

std::vector<Tensor> load(const fs::path& p) {
  std::vector<Tensor> v;
  torch::load(v, p.string());
  return v;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Rows of the global batch that rank `rank` of `world` holds.
Tensor shard(const Tensor& global, int rank, int world) {
  auto [b, e] = dist::shard_range(global.size(0), rank, world);
  return global.narrow(0, b, e - b);
}

// ---------------------------------------------------------------------------
// (a) all_gather_with_grad and the plain collectives
// ---------------------------------------------------------------------------
// Rank r holds x_r of (3 + r) x 4 rows (different sizes on purpose) and
// computes L_r = sum(Z^2 * A_r) + sum(x_r * B_r) with Z = gather(x).
Tensor gather_input(int r) {
  torch::manual_seed(10 + r);
  return torch::randn({3 + r, 4}, torch::kDouble);
}
Tensor gather_a(int r, int64_t rows) {
  torch::manual_seed(20 + r);
  return torch::randn({rows, 4}, torch::kDouble);
}
Tensor gather_b(int r) {
  torch::manual_seed(30 + r);
  return torch::randn({3 + r, 4}, torch::kDouble);
}

int role_gather(const dist::Context& ctx, const std::string& dir) {
  const int r = ctx.rank();
  Tensor x = gather_input(r).requires_grad_(true);
  Tensor z = dist::all_gather_with_grad(ctx, x);
  Tensor loss =
      (z.square() * gather_a(r, z.size(0))).sum() + (x * gather_b(r)).sum();
  loss.backward();
  // Plain collectives on small metric tensors.
  Tensor sum = torch::tensor({1.0 + r, 10.0 * (r + 1)});
  ctx.all_reduce(sum, dist::ReduceOp::kSum);
  Tensor avg = torch::tensor({1.0 + r, 10.0 * (r + 1)});
  ctx.all_reduce(avg, dist::ReduceOp::kAverage);
  Tensor mx = torch::tensor(
      {static_cast<int64_t>(r), static_cast<int64_t>(-r)}, torch::kLong);
  ctx.all_reduce(mx, dist::ReduceOp::kMax);
  Tensor labels = torch::arange(3 + r, torch::kLong) + 100 * r;
  Tensor gathered_labels = ctx.all_gather(labels);
  Tensor bcast = torch::full({3}, static_cast<double>(r + 7));
  ctx.broadcast(bcast, 1);
  // A module whose rank-1 copy starts different: broadcast makes it rank 0's.
  torch::manual_seed(40 + r);
  torch::nn::Sequential net(torch::nn::Linear(3, 2), torch::nn::BatchNorm1d(2));
  dist::broadcast_module(ctx, *net);
  std::vector<Tensor> state;
  for (const auto& p : net->parameters()) {
    state.push_back(p.detach().clone());
  }
  for (const auto& b : net->buffers()) {
    state.push_back(b.clone());
  }
  torch::save(
      std::vector<Tensor>{
          z.detach(), x.grad(), sum, avg, mx, gathered_labels, bcast},
      out_file(dir, "gather", r).string());
  torch::save(state, out_file(dir, "module", r).string());
  return 0;
}

// ---------------------------------------------------------------------------
// (b) SyncBatchNorm
// ---------------------------------------------------------------------------
// Global batches: 2-D (6 x 3 x 4 x 5) and 1-D (6 x 5) inputs, two steps.
Tensor bn_input(int step, bool image) {
  torch::manual_seed(50 + step + (image ? 0 : 10));
  // A non-zero mean per channel so that the exact variance combination
  // matters.
  return image ? torch::randn({6, 3, 4, 5}) * 2 + 3 : torch::randn({6, 5}) - 1;
}
Tensor bn_probe(int step, bool image) {
  torch::manual_seed(70 + step + (image ? 0 : 10));
  return image ? torch::randn({6, 3, 4, 5}) : torch::randn({6, 5});
}

// Runs `steps` training steps of a norm layer on the rank's share of the
// global batch; returns {y, dx per step..., weight grad, bias grad, running
// mean, running var, eval output}.
template <typename Norm>
std::vector<Tensor> bn_steps(Norm& bn, const dist::Context& ctx, bool image) {
  std::vector<Tensor> out;
  bn->train();
  {
    torch::NoGradGuard no_grad;
    bn->weight.copy_(torch::linspace(0.5, 1.5, bn->weight.size(0)));
    bn->bias.copy_(torch::linspace(-0.2, 0.3, bn->bias.size(0)));
  }
  for (int step = 0; step < 2; ++step) {
    Tensor x = shard(bn_input(step, image), ctx.rank(), ctx.world_size())
                   .clone()
                   .requires_grad_(true);
    Tensor y = bn->forward(x);
    // A sum (not a mean) loss: d/dx of sum_r L_r is the 1-process gradient.
    (y * shard(bn_probe(step, image), ctx.rank(), ctx.world_size()))
        .sum()
        .backward();
    out.push_back(y.detach());
    out.push_back(x.grad());
  }
  out.push_back(bn->weight.grad());
  out.push_back(bn->bias.grad());
  out.push_back(bn->running_mean.clone());
  out.push_back(bn->running_var.clone());
  bn->eval();
  out.push_back(
      bn->forward(shard(bn_input(0, image), ctx.rank(), ctx.world_size()))
          .detach());
  return out;
}

int role_syncbn(const dist::Context& ctx, const std::string& dir) {
  dist::SyncBatchNorm bn2(3);
  bn2->set_context(ctx);
  dist::SyncBatchNorm bn1(dist::SyncBatchNormOptions(5).momentum(0.3));
  if (dist::enable_sync_batchnorm(*bn1, ctx) != 1) {
    return 4;
  }
  torch::save(
      bn_steps(bn2, ctx, true), out_file(dir, "bn2d", ctx.rank()).string());
  torch::save(
      bn_steps(bn1, ctx, false), out_file(dir, "bn1d", ctx.rank()).string());
  return 0;
}

// ---------------------------------------------------------------------------
// (c) k SGD steps: 2 ranks x 4 samples == 1 process x 8 samples
// ---------------------------------------------------------------------------
struct NetImpl : torch::nn::Module {
  NetImpl()
      : conv(register_module(
            "conv",
            torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 6, 3).padding(1)))),
        bn(register_module("bn", dist::SyncBatchNorm(6))),
        fc(register_module("fc", torch::nn::Linear(6, 8))),
        cls(register_module("cls", torch::nn::Linear(8, 4))),
        // Never used in forward: its gradient stays undefined everywhere,
        // so SGD must skip it (weight decay included) on 2 ranks as on 1.
        spare(register_module("spare", torch::nn::Linear(2, 2))) {}
  // Returns {logits, L2-normalised embedding}.
  std::pair<Tensor, Tensor> forward(const Tensor& x) {
    Tensor h = torch::relu(bn->forward(conv->forward(x)));
    h = fc->forward(h.mean({2, 3}));
    return {
        cls->forward(torch::relu(h)),
        torch::nn::functional::normalize(
            h, torch::nn::functional::NormalizeFuncOptions().dim(1))};
  }
  torch::nn::Conv2d conv;
  dist::SyncBatchNorm bn;
  torch::nn::Linear fc, cls, spare;
};
TORCH_MODULE(Net);

// Supervised contrastive loss of this rank's anchors against the embeddings
// of the whole global batch (all-gathered), averaged over local anchors.
Tensor contrastive(const dist::Context& ctx, const Tensor& z, const Tensor& y) {
  Tensor keys = dist::all_gather_with_grad(ctx, z);
  Tensor key_labels = ctx.all_gather(y);
  const int64_t offset =
      dist::shard_range(keys.size(0), ctx.rank(), ctx.world_size()).first;
  Tensor self = torch::zeros({z.size(0), keys.size(0)});
  for (int64_t i = 0; i < z.size(0); ++i) {
    self[i][offset + i] = 1;
  }
  Tensor logits = torch::matmul(z, keys.t()) / 0.5 - 1e9 * self;
  Tensor log_prob = logits - torch::logsumexp(logits, 1, true);
  Tensor pos = (y.unsqueeze(1) == key_labels.unsqueeze(0)).to(torch::kFloat) *
               (1 - self);
  Tensor per_anchor = -(pos * log_prob).sum(1) / pos.sum(1).clamp_min(1.0);
  return per_anchor.mean();
}

constexpr int kSteps = 4;
constexpr int64_t kGlobalBatch = 8;

// The same code runs as 1 process (ctx world 1) and as each of 2 ranks.
// Returns {losses (global mean per step), launched-during-backward counts,
// then the final parameters and buffers}.
std::vector<Tensor> train_run(const dist::Context& ctx, bool overlap) {
  torch::manual_seed(1 + ctx.rank());  // rank 1 starts different ...
  Net net;
  dist::broadcast_module(ctx, *net);  // ... until rank 0's weights arrive
  dist::enable_sync_batchnorm(*net, ctx);
  torch::optim::SGD sgd(
      net->parameters(),
      torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  dist::GradReducer reducer(
      ctx,
      net->parameters(),
      dist::GradReducerOptions().bucket_cap_mb(5e-4).overlap(overlap));
  Tensor losses = torch::zeros({kSteps});
  Tensor launched = torch::zeros({kSteps});
  for (int step = 0; step < kSteps; ++step) {
    torch::manual_seed(100 + step);
    Tensor x_all = torch::randn({kGlobalBatch, 3, 6, 6});
    Tensor y_all = torch::randint(0, 4, {kGlobalBatch}, torch::kLong);
    Tensor x = shard(x_all, ctx.rank(), ctx.world_size());
    Tensor y = shard(y_all, ctx.rank(), ctx.world_size());
    sgd.zero_grad();
    auto [logits, z] = net->forward(x);
    Tensor loss = torch::nn::functional::cross_entropy(logits, y) +
                  0.5 * contrastive(ctx, z, y);
    loss.backward();
    reducer.synchronize();
    sgd.step();
    Tensor metric = loss.detach().reshape({1});
    ctx.all_reduce(metric, dist::ReduceOp::kAverage);
    losses[step] = metric[0];
    launched[step] = static_cast<double>(reducer.launched_during_backward());
  }
  std::vector<Tensor> out{losses, launched};
  for (const auto& p : net->parameters()) {
    out.push_back(p.detach().clone());
  }
  for (const auto& b : net->buffers()) {
    out.push_back(b.clone());
  }
  return out;
}

int role_train(const dist::Context& ctx, const std::string& dir) {
  torch::save(
      train_run(ctx, /*overlap=*/true),
      out_file(dir, "train", ctx.rank()).string());
  torch::save(
      train_run(ctx, /*overlap=*/false),
      out_file(dir, "train_after", ctx.rank()).string());
  return 0;
}

// ---------------------------------------------------------------------------
// (d) failures
// ---------------------------------------------------------------------------
// "die": rank 1 SIGKILLs itself after 3 all-reduces; rank 0 keeps going and
// must get an ltcl::Error (exit 4; 3 is util::kExitStopped, a clean stop
// the launcher does not count as a failure). "hang": rank 1 stops calling collectives
// (sleeps); rank 0 must time out.
int role_failure(const dist::Context& ctx, bool hang) {
  try {
    for (int i = 0; i < 2000; ++i) {
      if (ctx.rank() == 1 && i == 3) {
        if (hang) {
          std::this_thread::sleep_for(std::chrono::seconds(60));
          return 5;
        }
        std::raise(SIGKILL);
      }
      Tensor t = torch::ones({16});
      ctx.all_reduce(t);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  } catch (const ltcl::Error& e) {
    std::cerr << "worker error: " << e.what() << std::endl;
    return 4;
  }
  return 0;
}

// "signal": wait for SIGTERM (forwarded by the launcher), then exit 0.
volatile std::sig_atomic_t got_term = 0;
extern "C" void on_term(int) {
  got_term = 1;
}
int role_signal(const std::string& dir) {
  std::signal(SIGTERM, on_term);
  std::ofstream(fs::path(dir) / ("ready_" + env_or("RANK", "x"))) << "1";
  for (int i = 0; i < 1000 && !got_term; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return got_term ? 0 : 4;
}

int run_worker(const std::string& role) {
  torch::set_num_threads(1);
  const std::string dir = env_or(kDirVar, ".");
  if (role == "signal") {
    return role_signal(dir);
  }
  try {
    dist::Context ctx = worker_context();
    if (role == "gather") {
      return role_gather(ctx, dir);
    }
    if (role == "syncbn") {
      return role_syncbn(ctx, dir);
    }
    if (role == "train") {
      return role_train(ctx, dir);
    }
    if (role == "die" || role == "hang") {
      return role_failure(ctx, role == "hang");
    }
  } catch (const std::exception& e) {
    std::cerr << "worker " << role << " failed: " << e.what() << std::endl;
    return 2;
  }
  std::cerr << "unknown role " << role << std::endl;
  return 2;
}

// ---------------------------------------------------------------------------
// The tests (parent side)
// ---------------------------------------------------------------------------
class MultiProcess : public ltcl::test::SeededTest {
 protected:
  // Runs role on 2 ranks; returns the report (throws LaunchError on failure).
  dist::LaunchReport launch(
      const std::string& role,
      int timeout_ms = 20000,
      dist::LocalLaunchOptions opts = {}) {
    opts.log_dir = (dir_ / "logs").string();
    opts.threads_per_process = 1;
    opts.extra_env = {
        {kRoleVar, role},
        {kDirVar, dir_.path().string()},
        {kTimeoutVar, std::to_string(timeout_ms)}};
    try {
      return dist::spawn_local(kWorld, {"/proc/self/exe"}, opts);
    } catch (const dist::LaunchError& e) {
      for (int r = 0; r < kWorld; ++r) {
        std::cerr << "--- rank " << r << " log:\n"
                  << read_text(
                         dir_ / "logs" /
                         ("rank_" + std::to_string(r) + ".log"));
      }
      throw;
    }
  }
  ltcl::test::TempDir dir_;
};

void expect_close(
    const Tensor& got,
    const Tensor& want,
    double atol,
    const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double diff = (got.to(torch::kDouble) - want.to(torch::kDouble))
                          .abs()
                          .max()
                          .item<double>();
  EXPECT_LE(diff, atol) << what << ": max |diff| " << diff;
}

TEST_F(MultiProcess, AllGatherWithGradMatchesOneProcess) {
  auto report = launch("gather");
  EXPECT_EQ(report.first_failed_rank, -1);
  // One process: X = [x_0; x_1] as leaves, L = sum_r L_r.
  Tensor x0 = gather_input(0).requires_grad_(true);
  Tensor x1 = gather_input(1).requires_grad_(true);
  Tensor z = torch::cat({x0, x1});
  Tensor loss = (z.square() * gather_a(0, 7)).sum() + (x0 * gather_b(0)).sum() +
                (z.square() * gather_a(1, 7)).sum() + (x1 * gather_b(1)).sum();
  loss.backward();
  const Tensor want_grads[] = {x0.grad(), x1.grad()};
  for (int r = 0; r < kWorld; ++r) {
    auto got = load(out_file(dir_.path().string(), "gather", r));
    expect_close(
        got[0], z.detach(), 0, "gathered values, rank " + std::to_string(r));
    // Hand check of the formula on one element: dL/dx_r = 2 x (A_0 + A_1)
    // on the slice, plus B_r.
    expect_close(
        got[1], want_grads[r], 1e-12, "grad, rank " + std::to_string(r));
    const int64_t off = r == 0 ? 0 : 3;
    const double hand = 2 * z[off][0].item<double>() *
                            (gather_a(0, 7)[off][0].item<double>() +
                             gather_a(1, 7)[off][0].item<double>()) +
                        gather_b(r)[0][0].item<double>();
    EXPECT_NEAR(got[1][0][0].item<double>(), hand, 1e-12);
    // Metrics: sums, averages, max over ranks.
    expect_close(got[2], torch::tensor({3.0, 30.0}), 1e-6, "sum");
    expect_close(got[3], torch::tensor({1.5, 15.0}), 1e-6, "average");
    EXPECT_TRUE(got[4].equal(torch::tensor({1, 0}, torch::kLong)));
    EXPECT_TRUE(got[5].equal(
        torch::tensor({0, 1, 2, 100, 101, 102, 103}, torch::kLong)));
    expect_close(got[6], torch::full({3}, 8.0), 0, "broadcast from rank 1");
  }
  // broadcast_module: both ranks hold rank 0's initialisation (seed 40).
  auto m0 = load(out_file(dir_.path().string(), "module", 0));
  auto m1 = load(out_file(dir_.path().string(), "module", 1));
  torch::manual_seed(40);
  torch::nn::Linear ref(3, 2);
  expect_close(m0[0], ref->weight, 0, "rank 0 keeps its weights");
  ASSERT_EQ(m0.size(), m1.size());
  for (size_t i = 0; i < m0.size(); ++i) {
    EXPECT_TRUE(m0[i].equal(m1[i])) << "tensor " << i;
  }
}

template <typename Norm>
void check_syncbn(
    const std::string& dir, const std::string& name, Norm bn, bool image) {
  auto ranks = std::vector<std::vector<Tensor>>{
      load(out_file(dir, name, 0)), load(out_file(dir, name, 1))};
  dist::Context single;
  auto want = bn_steps(bn, single, image);
  // Layout: y0, dx0, y1, dx1, dw, db, running_mean, running_var, eval_y.
  for (int r = 0; r < kWorld; ++r) {
    const auto& got = ranks[r];
    ASSERT_EQ(got.size(), want.size());
    for (int k : {0, 1, 2, 3, 8}) {
      expect_close(
          got[k],
          shard(want[k], r, kWorld),
          2e-5,
          name + " per-sample output " + std::to_string(k) + ", rank " +
              std::to_string(r));
    }
    for (int k : {6, 7}) {
      expect_close(
          got[k], want[k], 1e-5, name + " running stat " + std::to_string(k));
    }
  }
  // Parameter gradients: the sum over ranks is the whole-batch gradient.
  expect_close(ranks[0][4] + ranks[1][4], want[4], 1e-4, name + " dweight");
  expect_close(ranks[0][5] + ranks[1][5], want[5], 1e-4, name + " dbias");
}

TEST_F(MultiProcess, SyncBatchNormMatchesBatchNormOnWholeBatch) {
  launch("syncbn");
  // Reference: torch's own BatchNorm on the global batch in one process.
  check_syncbn(dir_.path().string(), "bn2d", torch::nn::BatchNorm2d(3), true);
  check_syncbn(
      dir_.path().string(),
      "bn1d",
      torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(5).momentum(0.3)),
      false);
}

TEST_F(MultiProcess, TwoRanksTrainLikeOneProcessOnTheGlobalBatch) {
  launch("train");
  dist::Context single;
  auto want = train_run(single, true);
  auto got0 = load(out_file(dir_.path().string(), "train", 0));
  auto got1 = load(out_file(dir_.path().string(), "train", 1));
  auto after0 = load(out_file(dir_.path().string(), "train_after", 0));
  ASSERT_EQ(got0.size(), want.size());
  ASSERT_EQ(after0.size(), want.size());
  // The losses (global means) and every final parameter and buffer agree,
  // with the all-reduce overlapped with backward or done after it.
  expect_close(got0[0], want[0], 1e-5, "losses");
  expect_close(got1[0], want[0], 1e-5, "losses rank 1");
  expect_close(after0[0], want[0], 1e-5, "losses, reduce after backward");
  for (size_t i = 2; i < want.size(); ++i) {
    expect_close(got0[i], want[i], 2e-5, "state " + std::to_string(i));
    expect_close(
        after0[i], want[i], 2e-5, "state (after) " + std::to_string(i));
    EXPECT_TRUE(got0[i].equal(got1[i])) << "ranks differ at " << i;
  }
  // The unused layer was left alone (no weight decay on a missing grad).
  torch::manual_seed(1);
  Net fresh;
  const auto names = fresh->named_parameters().keys();
  const size_t spare =
      2 +
      (std::find(names.begin(), names.end(), "spare.weight") - names.begin());
  ASSERT_LT(spare, want.size());
  EXPECT_TRUE(got0[spare].equal(fresh->spare->weight));
  EXPECT_TRUE(want[spare].equal(fresh->spare->weight));
  // The weights moved (the check above is not vacuous).
  torch::manual_seed(1);
  Net init;
  EXPECT_GT((want[2] - init->conv->weight).abs().max().item<double>(), 1e-3);
  // The reducer launched buckets from gradient hooks, during backward (none
  // when overlap is off). Step 0 cannot: the unused layer's bucket comes
  // first in reverse registration order and blocks the in-order launch
  // until synchronize(); the rebuild from the observed order fixes that.
  EXPECT_EQ(got0[1][0].item<double>(), 0) << got0[1];
  EXPECT_GT(got0[1].narrow(0, 1, kSteps - 1).min().item<double>(), 0)
      << got0[1];
  EXPECT_EQ(after0[1].max().item<double>(), 0) << after0[1];
}

TEST_F(MultiProcess, KilledRankEndsTheJobWithAnError) {
  dist::LocalLaunchOptions opts;
  opts.failure_grace = std::chrono::seconds(30);  // let rank 0 exit itself
  const auto start = std::chrono::steady_clock::now();
  try {
    launch("die", /*timeout_ms=*/5000, opts);
    FAIL() << "expected a LaunchError";
  } catch (const dist::LaunchError& e) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    const auto& rep = e.report();
    EXPECT_EQ(rep.first_failed_rank, 1);
    EXPECT_TRUE(rep.ranks[1].signaled);
    EXPECT_EQ(rep.ranks[1].signal, SIGKILL);
    EXPECT_NE(
        std::string(e.what()).find("rank 1 of 2 failed"), std::string::npos)
        << e.what();
    EXPECT_NE(
        std::string(e.what()).find("killed by signal 9"), std::string::npos)
        << e.what();
    // Rank 0 stopped on its own with the collective's error, well within
    // the 5 s timeout plus start-up.
    EXPECT_FALSE(rep.ranks[0].signaled);
    EXPECT_EQ(rep.ranks[0].code, 4);
    EXPECT_FALSE(rep.ranks[0].stopped_by_launcher);
    EXPECT_LT(seconds, 25.0);
    const std::string log = read_text(dir_ / "logs" / "rank_0.log");
    EXPECT_NE(log.find("dist::Context::all_reduce"), std::string::npos) << log;
    EXPECT_NE(log.find("rank 0 of 2"), std::string::npos) << log;
  }
}

TEST_F(MultiProcess, HungRankTimesOutTheOthers) {
  dist::LocalLaunchOptions opts;
  opts.failure_grace = std::chrono::milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  try {
    launch("hang", /*timeout_ms=*/2000, opts);
    FAIL() << "expected a LaunchError";
  } catch (const dist::LaunchError& e) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    const auto& rep = e.report();
    // Rank 0 gave up after the 2 s timeout; the launcher then stopped the
    // hung rank 1 with SIGTERM.
    EXPECT_EQ(rep.first_failed_rank, 0);
    EXPECT_EQ(rep.ranks[0].code, 4);
    EXPECT_TRUE(rep.ranks[1].signaled);
    EXPECT_EQ(rep.ranks[1].signal, SIGTERM);
    EXPECT_TRUE(rep.ranks[1].stopped_by_launcher);
    EXPECT_GE(seconds, 2.0);
    EXPECT_LT(seconds, 20.0);
    const std::string log = read_text(dir_ / "logs" / "rank_0.log");
    EXPECT_NE(log.find("timeout 2 s"), std::string::npos) << log;
    EXPECT_NE(log.find("all_reduce"), std::string::npos) << log;
  }
}

TEST_F(MultiProcess, LauncherForwardsSigterm) {
  dist::LaunchReport report;
  std::thread sender([&] {
    // Wait until both workers are up (they then wait for SIGTERM).
    for (int i = 0; i < 1000; ++i) {
      if (fs::exists(dir_ / "ready_0") && fs::exists(dir_ / "ready_1")) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(getpid(), SIGTERM);  // caught by spawn_local's handler
  });
  report = launch("signal");
  sender.join();
  EXPECT_EQ(report.forwarded_signal, SIGTERM);
  EXPECT_EQ(report.first_failed_rank, -1);
  for (const auto& rs : report.ranks) {
    EXPECT_TRUE(rs.ok()) << rs.describe();
  }
}

TEST(Launcher, BadArgumentsThrow) {
  EXPECT_THROW(dist::spawn_local(0, {"/bin/true"}), ltcl::Error);
  EXPECT_THROW(dist::spawn_local(2, {}), ltcl::Error);
  try {
    dist::spawn_local(2, {"/nonexistent/program"});
    FAIL();
  } catch (const ltcl::Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("cannot execute '/nonexistent"),
        std::string::npos)
        << e.what();
  }
}

TEST(Launcher, RelaunchCommandDropsTheOption) {
  const char* argv[] = {
      "ltcl", "train", "--nproc", "2", "--config", "a.yaml", "--nproc=3", "-v"};
  const std::vector<std::string> want{
      "/proc/self/exe", "train", "--config", "a.yaml", "-v"};
  EXPECT_EQ(dist::relaunch_command(8, argv), want);
  EXPECT_EQ(
      dist::relaunch_command(3, argv, "--config"),
      (std::vector<std::string>{"/proc/self/exe", "train", "--nproc"}));
}

TEST(Launcher, ReportsExitStatusAndEnvironment) {
  ltcl::test::TempDir dir;
  dist::LocalLaunchOptions opts;
  opts.log_dir = dir.path().string();
  opts.threads_per_process = 3;
  // Each rank prints its environment; rank 1 then exits 7.
  const std::string script =
      "echo $RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT "
      "$OMP_NUM_THREADS; [ $RANK = 1 ] && exit 7; exit 0";
  try {
    dist::spawn_local(2, {"/bin/sh", "-c", script}, opts);
    FAIL();
  } catch (const dist::LaunchError& e) {
    EXPECT_EQ(e.report().first_failed_rank, 1);
    EXPECT_EQ(e.report().ranks[1].code, 7);
    EXPECT_TRUE(e.report().ranks[0].ok());
    EXPECT_NE(
        std::string(e.what()).find("exited with status 7"), std::string::npos)
        << e.what();
    const std::string port = std::to_string(e.report().master_port);
    EXPECT_EQ(
        read_text(dir / "rank_0.log"), "0 2 0 127.0.0.1 " + port + " 3\n");
    EXPECT_EQ(
        read_text(dir / "rank_1.log"), "1 2 1 127.0.0.1 " + port + " 3\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* role = std::getenv(kRoleVar)) {
    return run_worker(role);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
