// Single-process tests of the distributed layer: launch-environment parsing
// and its errors, the world-1 fallbacks (which must be exactly the
// non-distributed computation), SyncBatchNorm == BatchNorm at world 1, and
// the gradient bucketing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <map>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/dist/launcher.h"
#include "ltcl/dist/sync_batchnorm.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace dist = ltcl::dist;
using torch::Tensor;
using Env = std::map<std::string, std::string>;
using Range = std::pair<int64_t, int64_t>;

dist::LaunchEnv parse(const Env& env) {
  return dist::parse_launch_env([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// Expects parse(env) to throw an ltcl::Error whose message contains each of
// `needles`.
void expect_env_error(
    const Env& env, std::initializer_list<std::string> needles) {
  ltcl::test::expect_error([&] { parse(env); }, needles);
}

const Env kTorchrun{
    {"RANK", "3"},
    {"WORLD_SIZE", "8"},
    {"LOCAL_RANK", "1"},
    {"LOCAL_WORLD_SIZE", "2"},
    {"MASTER_ADDR", "node0"},
    {"MASTER_PORT", "1234"}};

Env with(Env env, const std::string& k, const std::string& v) {
  env[k] = v;
  return env;
}
Env without(Env env, const std::string& k) {
  env.erase(k);
  return env;
}

TEST(LaunchEnv, ParsesTorchrunVariables) {
  auto e = parse(kTorchrun);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "node0");
  EXPECT_EQ(e.master_port, 1234);
  // Defaults: MASTER_PORT 29500, LOCAL_RANK 0.
  auto d = parse(without(without(kTorchrun, "MASTER_PORT"), "LOCAL_RANK"));
  EXPECT_EQ(d.master_port, 29500);
  EXPECT_EQ(d.local_rank, 0);
}

TEST(LaunchEnv, UnsetOrWorldOneIsASingleProcess) {
  auto e = parse({});
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
  auto one = parse({{"WORLD_SIZE", "1"}, {"RANK", "0"}});
  EXPECT_EQ(one.world_size, 1);
  // A batch script's SLURM_NTASKS alone (no MASTER_ADDR) does not count.
  EXPECT_EQ(
      parse({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}}).world_size, 1);
}

TEST(LaunchEnv, SlurmFallbackWhenMasterAddrIsSet) {
  auto e = parse(
      {{"SLURM_NTASKS", "4"},
       {"SLURM_PROCID", "2"},
       {"SLURM_LOCALID", "0"},
       {"MASTER_ADDR", "10.0.0.1"}});
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  // torchrun's variables win over SLURM's.
  auto t =
      parse(with(with(kTorchrun, "SLURM_PROCID", "5"), "SLURM_NTASKS", "16"));
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world_size, 8);
}

TEST(LaunchEnv, BadValuesNameTheVariable) {
  expect_env_error(
      with(kTorchrun, "WORLD_SIZE", "eight"), {"WORLD_SIZE", "'eight'"});
  expect_env_error(with(kTorchrun, "WORLD_SIZE", "0"), {"WORLD_SIZE", "0"});
  expect_env_error(with(kTorchrun, "WORLD_SIZE", "8 "), {"WORLD_SIZE"});
  expect_env_error(with(kTorchrun, "RANK", "8"), {"RANK", "[0, 7]", "8"});
  expect_env_error(with(kTorchrun, "RANK", "-1"), {"RANK"});
  expect_env_error(with(kTorchrun, "RANK", ""), {"RANK", "''"});
  expect_env_error(without(kTorchrun, "RANK"), {"RANK is not set"});
  expect_env_error(with(kTorchrun, "LOCAL_RANK", "x1"), {"LOCAL_RANK"});
  expect_env_error(
      with(kTorchrun, "LOCAL_WORLD_SIZE", "0"), {"LOCAL_WORLD_SIZE"});
  expect_env_error(
      with(kTorchrun, "MASTER_PORT", "70000"), {"MASTER_PORT", "70000"});
  expect_env_error(with(kTorchrun, "MASTER_PORT", "http"), {"MASTER_PORT"});
  expect_env_error(without(kTorchrun, "MASTER_ADDR"), {"MASTER_ADDR"});
  expect_env_error(with(kTorchrun, "MASTER_ADDR", ""), {"MASTER_ADDR"});
  expect_env_error({{"RANK", "1"}}, {"WORLD_SIZE", "RANK"});
  expect_env_error(
      {{"SLURM_NTASKS", "two"}, {"MASTER_ADDR", "h"}}, {"SLURM_NTASKS"});
}

TEST(LaunchEnv, ContextFromProcessEnvironmentThrowsNamingTheVariable) {
  ASSERT_EQ(setenv("WORLD_SIZE", "2", 1), 0);
  ASSERT_EQ(setenv("RANK", "two", 1), 0);
  ltcl::test::expect_error([] { dist::Context::from_env(); }, {"RANK"});
  EXPECT_THROW(dist::launched_distributed(), ltcl::Error);
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  EXPECT_FALSE(dist::launched_distributed());
  EXPECT_EQ(dist::Context::from_env().world_size(), 1);
}

TEST(Context, BadOptionsThrow) {
  dist::ContextOptions opts;
  opts.timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(dist::Context::create({}, opts), ltcl::Error);
  opts.timeout = std::chrono::seconds(1);
  opts.backend = "mpi";
  ltcl::test::expect_error([&] { dist::Context::create({}, opts); }, {"'mpi'"});
}

#if defined(LTCL_WITH_DISTRIBUTED)
TEST(Context, MissingMasterFailsWithinTheTimeout) {
  dist::LaunchEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = dist::find_free_port();  // nobody listens there
  dist::ContextOptions opts;
  opts.timeout = std::chrono::milliseconds(1500);
  const auto start = std::chrono::steady_clock::now();
  ltcl::test::expect_error(
      [&] { dist::Context::create(env, opts); },
      {"127.0.0.1:" + std::to_string(env.master_port),
       "rank 1 of 2",
       "timeout 1.5 s"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 15.0);
}
#endif

#if !defined(LTCL_HAS_CUDA)
TEST(Context, NcclNeedsACudaBuild) {
  dist::LaunchEnv env;
  env.world_size = 2;
  env.master_port = dist::find_free_port();
  dist::ContextOptions opts;
  opts.backend = "nccl";
  // Refused before any rendezvous (which would wait for rank 1).
  ltcl::test::expect_error(
      [&] { dist::Context::create(env, opts); }, {"'nccl'"});
}
#endif

TEST(ShardRange, SplitsWithoutOverlapOrGap) {
  EXPECT_EQ(dist::shard_range(8, 0, 2), Range(0, 4));
  EXPECT_EQ(dist::shard_range(8, 1, 2), Range(4, 8));
  // 10 over 4: sizes 3, 3, 2, 2.
  const Range want[] = {{0, 3}, {3, 6}, {6, 8}, {8, 10}};
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(dist::shard_range(10, r, 4), want[r]) << r;
  }
  EXPECT_EQ(dist::shard_range(1, 1, 2), Range(1, 1));
  EXPECT_THROW(dist::shard_range(8, 2, 2), ltcl::Error);
  EXPECT_THROW(dist::shard_range(8, 0, 0), ltcl::Error);
  EXPECT_THROW(dist::shard_range(-1, 0, 1), ltcl::Error);
}

class WorldOne : public ltcl::test::SeededTest {};

TEST_F(WorldOne, CollectivesAreIdentities) {
  dist::Context ctx;
  EXPECT_EQ(ctx.rank(), 0);
  EXPECT_EQ(ctx.world_size(), 1);
  EXPECT_TRUE(ctx.is_main());
  EXPECT_FALSE(ctx.distributed());
  EXPECT_EQ(ctx.backend_name(), "single");
  ctx.barrier();
  Tensor t = torch::tensor({1.5, -2.0});
  ctx.all_reduce(t, dist::ReduceOp::kAverage);
  EXPECT_TRUE(t.equal(torch::tensor({1.5, -2.0})));
  ctx.broadcast(t, 0);
  EXPECT_TRUE(t.equal(torch::tensor({1.5, -2.0})));
  Tensor g = ctx.all_gather(t);
  EXPECT_TRUE(g.equal(t));
  EXPECT_FALSE(g.is_same(t));
  EXPECT_EQ(ctx.all_gather_sizes(5), std::vector<int64_t>{5});
  // all_gather_with_grad is the identity, gradient included.
  Tensor x = torch::randn({3, 2}, torch::requires_grad());
  Tensor z = dist::all_gather_with_grad(ctx, x);
  EXPECT_TRUE(z.is_same(x));
}

TEST_F(WorldOne, GradReducerLeavesGradientsAlone) {
  torch::nn::Linear lin(4, 3);
  dist::GradReducer reducer(dist::Context(), lin->parameters());
  lin->forward(torch::randn({5, 4})).sum().backward();
  Tensor before = lin->weight.grad().clone();
  reducer.synchronize();
  EXPECT_TRUE(lin->weight.grad().equal(before));
}

TEST(GradReducer, BucketsInReverseOrderUpToTheCap) {
  // Parameters of 100, 50, 30 and 200 floats; a 400-byte (100-float) cap.
  std::vector<Tensor> params{
      torch::zeros({100}, torch::requires_grad()),
      torch::zeros({5, 10}, torch::requires_grad()),
      torch::zeros({30}, torch::requires_grad()),
      torch::zeros({200}, torch::requires_grad())};
  dist::GradReducer reducer(
      dist::Context(),
      params,
      dist::GradReducerOptions().bucket_cap_mb(400.0 / (1024 * 1024)));
  // Reverse order: [3] alone exceeds the cap; [2, 1] = 80 floats, then
  // [2, 1, 0] = 180 >= 100 closes it.
  const std::vector<std::vector<size_t>> want{{3}, {2, 1, 0}};
  EXPECT_EQ(reducer.buckets(), want);
  EXPECT_THROW(
      dist::GradReducer(
          dist::Context(), params, dist::GradReducerOptions().bucket_cap_mb(0)),
      ltcl::Error);
}

TEST(GradReducer, SeparatesDtypesAndSkipsFrozenParameters) {
  std::vector<Tensor> params{
      torch::zeros({4}, torch::requires_grad()),
      torch::zeros({4}, torch::dtype(torch::kDouble).requires_grad(true)),
      torch::zeros({4}),  // frozen: not reduced
      torch::zeros({4}, torch::requires_grad())};
  dist::GradReducer reducer(dist::Context(), params);
  // Indices count the parameters that require grad: 0, 1, (frozen), 2.
  const std::vector<std::vector<size_t>> want{{2, 0}, {1}};
  EXPECT_EQ(reducer.buckets(), want);
}

// SyncBatchNorm at world 1 must be torch's BatchNorm, bit for bit.
template <typename Bn, typename Opts>
void expect_same_as_batchnorm(
    const Opts& torch_opts,
    const dist::SyncBatchNormOptions& opts,
    std::vector<int64_t> shape) {
  Bn ref(torch_opts);
  dist::SyncBatchNorm bn(opts);
  if (opts.affine()) {
    torch::NoGradGuard ng;
    ref->weight.copy_(torch::rand({opts.num_features()}) + 0.5);
    ref->bias.copy_(torch::randn({opts.num_features()}));
    bn->weight.copy_(ref->weight);
    bn->bias.copy_(ref->bias);
  }
  for (int step = 0; step < 3; ++step) {
    Tensor x = (torch::randn(shape) * 3 + 1).requires_grad_(true);
    Tensor x2 = x.detach().clone().requires_grad_(true);
    Tensor probe = torch::randn(shape);
    Tensor y_ref = ref->forward(x);
    Tensor y = bn->forward(x2);
    EXPECT_TRUE(y.equal(y_ref)) << "step " << step;
    (y_ref * probe).sum().backward();
    (y * probe).sum().backward();
    EXPECT_TRUE(x2.grad().equal(x.grad()));
  }
  if (opts.affine()) {
    EXPECT_TRUE(bn->weight.grad().equal(ref->weight.grad()));
    EXPECT_TRUE(bn->bias.grad().equal(ref->bias.grad()));
  }
  if (opts.track_running_stats()) {
    EXPECT_TRUE(bn->running_mean.equal(ref->running_mean));
    EXPECT_TRUE(bn->running_var.equal(ref->running_var));
    EXPECT_TRUE(bn->num_batches_tracked.equal(ref->num_batches_tracked));
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 3);
  }
  ref->eval();
  bn->eval();
  Tensor x = torch::randn(shape);
  EXPECT_TRUE(bn->forward(x).equal(ref->forward(x)));
}

TEST_F(WorldOne, SyncBatchNormIsBatchNorm2d) {
  expect_same_as_batchnorm<torch::nn::BatchNorm2d>(
      torch::nn::BatchNorm2dOptions(3),
      dist::SyncBatchNormOptions(3),
      {4, 3, 5, 5});
}

TEST_F(WorldOne, SyncBatchNormIsBatchNorm1dWithOptions) {
  expect_same_as_batchnorm<torch::nn::BatchNorm1d>(
      torch::nn::BatchNorm1dOptions(6).momentum(c10::nullopt).eps(1e-3),
      dist::SyncBatchNormOptions(6).momentum(std::nullopt).eps(1e-3),
      {8, 6});
  expect_same_as_batchnorm<torch::nn::BatchNorm1d>(
      torch::nn::BatchNorm1dOptions(4).affine(false).track_running_stats(false),
      dist::SyncBatchNormOptions(4).affine(false).track_running_stats(false),
      {8, 4, 7});
}

TEST_F(WorldOne, SyncBatchNormStateDictMatchesBatchNorm) {
  torch::nn::BatchNorm2d ref(5);
  dist::SyncBatchNorm bn(5);
  std::vector<std::string> a, b;
  for (const auto& item : ref->named_parameters()) a.push_back(item.key());
  for (const auto& item : ref->named_buffers()) a.push_back(item.key());
  for (const auto& item : bn->named_parameters()) b.push_back(item.key());
  for (const auto& item : bn->named_buffers()) b.push_back(item.key());
  EXPECT_EQ(a, b);
}

TEST(SyncBatchNorm, BadOptionsAndInputs) {
  EXPECT_THROW(dist::SyncBatchNorm(0), ltcl::Error);
  EXPECT_THROW(
      dist::SyncBatchNorm(dist::SyncBatchNormOptions(3).eps(0)), ltcl::Error);
  dist::SyncBatchNorm bn(3);
  EXPECT_THROW(bn->forward(torch::randn({2, 4, 3, 3})), c10::Error);
  std::ostringstream s;
  bn->pretty_print(s);
  EXPECT_EQ(
      s.str(),
      "ltcl::dist::SyncBatchNorm(3, eps=1e-05, momentum=0.1, "
      "affine=true, track_running_stats=true, world_size=1)");
}

TEST(SyncBatchNorm, EnableFindsNestedModules) {
  struct Block : torch::nn::Module {
    Block() {
      register_module("a", dist::SyncBatchNorm(2));
      register_module(
          "inner",
          torch::nn::Sequential(
              torch::nn::Linear(2, 2),
              dist::SyncBatchNorm(2),
              torch::nn::BatchNorm1d(2)));
    }
  };
  Block block;
  EXPECT_EQ(dist::enable_sync_batchnorm(block, dist::Context()), 2);
}

}  // namespace
