// Data-parallel throughput: 1 process vs N processes on this machine.
//
//   bench_dist [--steps S] [--warmup W] [--batch B] [--nproc N]
//
// Trains a small CIFAR ResNet (ResNet-8: a 3x3 stem and 3 stages of one basic
// block, 16/32/64 channels, SyncBatchNorm) with SGD on random 32x32 images,
// global batch B, for W warm-up steps and S timed steps, in three set-ups:
//   1 process x all cores as threads;
//   N processes (spawn_local) x cores/N threads, batch B/N each, gradients
//   all-reduced in buckets during backward, SyncBN statistics all-reduced;
//   1 process x cores/N threads (what one of the N ranks has to itself).
// Prints images/s of each and the ratio N-process / 1-process.
// (Not a Google Benchmark: it times whole multi-process jobs.)
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/dist/launcher.h"
#include "ltcl/dist/sync_batchnorm.h"

namespace {

namespace dist = ltcl::dist;
using torch::Tensor;

struct BlockImpl : torch::nn::Module {
  BlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module(
            "conv1",
            torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3)
                                  .stride(stride)
                                  .padding(1)
                                  .bias(false)))),
        bn1(register_module("bn1", dist::SyncBatchNorm(out))),
        conv2(register_module(
            "conv2",
            torch::nn::Conv2d(
                torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)))),
        bn2(register_module("bn2", dist::SyncBatchNorm(out))) {
    if (stride != 1 || in != out) {
      down = register_module(
          "down",
          torch::nn::Conv2d(
              torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
    }
  }
  Tensor forward(const Tensor& x) {
    Tensor h = torch::relu(bn1->forward(conv1->forward(x)));
    h = bn2->forward(conv2->forward(h));
    return torch::relu(h + (down ? down->forward(x) : x));
  }
  torch::nn::Conv2d conv1, conv2;
  dist::SyncBatchNorm bn1, bn2;
  torch::nn::Conv2d down{nullptr};
};
TORCH_MODULE(Block);

struct ResNet8Impl : torch::nn::Module {
  ResNet8Impl()
      : stem(register_module(
            "stem",
            torch::nn::Conv2d(
                torch::nn::Conv2dOptions(3, 16, 3).padding(1).bias(false)))),
        bn(register_module("bn", dist::SyncBatchNorm(16))),
        s1(register_module("s1", Block(16, 16, 1))),
        s2(register_module("s2", Block(16, 32, 2))),
        s3(register_module("s3", Block(32, 64, 2))),
        fc(register_module("fc", torch::nn::Linear(64, 10))) {}
  Tensor forward(const Tensor& x) {
    Tensor h = torch::relu(bn->forward(stem->forward(x)));
    h = s3->forward(s2->forward(s1->forward(h)));
    return fc->forward(h.mean({2, 3}));
  }
  torch::nn::Conv2d stem;
  dist::SyncBatchNorm bn;
  Block s1, s2, s3;
  torch::nn::Linear fc;
};
TORCH_MODULE(ResNet8);

struct Args {
  int steps = 20;
  int warmup = 3;
  int batch = 128;
  int nproc = 2;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::stoi(argv[i + 1]);
    if (k == "--steps") {
      a.steps = v;
    } else if (k == "--warmup") {
      a.warmup = v;
    } else if (k == "--batch") {
      a.batch = v;
    } else if (k == "--nproc") {
      a.nproc = v;
    } else {
      throw std::runtime_error("unknown option " + k);
    }
  }
  return a;
}

// One job (world = ctx.world_size()); returns images/s of the global batch.
double train(const dist::Context& ctx, const Args& a) {
  torch::manual_seed(0);
  ResNet8 net;
  dist::broadcast_module(ctx, *net);
  dist::enable_sync_batchnorm(*net, ctx);
  torch::optim::SGD sgd(
      net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  dist::GradReducer reducer(ctx, net->parameters());
  auto [begin, end] = dist::shard_range(a.batch, ctx.rank(), ctx.world_size());
  torch::manual_seed(1 + ctx.rank());
  Tensor x = torch::randn({end - begin, 3, 32, 32});
  Tensor y = torch::randint(0, 10, {end - begin}, torch::kLong);
  auto step = [&] {
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(net->forward(x), y).backward();
    reducer.synchronize();
    sgd.step();
  };
  for (int i = 0; i < a.warmup; ++i) {
    step();
  }
  ctx.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < a.steps; ++i) {
    step();
  }
  ctx.barrier();
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  return static_cast<double>(a.batch) * a.steps / s;
}

constexpr const char* kWorkerVar = "LTCL_BENCH_DIST_OUT";

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  if (const char* out = std::getenv(kWorkerVar)) {
    // A rank of the multi-process job (threads from OMP_NUM_THREADS).
    torch::set_num_threads(std::atoi(std::getenv("OMP_NUM_THREADS")));
    dist::Context ctx = dist::Context::from_env();
    const double ips = train(ctx, a);
    if (ctx.is_main()) {
      std::ofstream(out) << ips;
    }
    return 0;
  }
  const int cores =
      std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int per_rank = std::max(1, cores / a.nproc);
  fmt::print(
      "ResNet-8 (SyncBN), 32x32, global batch {}, {} timed steps after {} "
      "warm-up; {} hardware threads\n",
      a.batch,
      a.steps,
      a.warmup,
      cores);

  torch::set_num_threads(cores);
  const double single = train(dist::Context(), a);
  fmt::print("1 process  x {} threads: {:8.1f} images/s\n", cores, single);

  const std::string out = "/tmp/ltcl_bench_dist_" + std::to_string(getpid());
  std::vector<std::string> child{"/proc/self/exe"};
  for (int i = 1; i < argc; ++i) {
    child.push_back(argv[i]);
  }
  dist::LocalLaunchOptions opts;
  opts.threads_per_process = per_rank;
  opts.extra_env = {{kWorkerVar, out}};
  dist::spawn_local(a.nproc, child, opts);
  double multi = 0;
  std::ifstream(out) >> multi;
  std::remove(out.c_str());
  fmt::print(
      "{} processes x {} threads: {:8.1f} images/s  (ratio {:.2f})\n",
      a.nproc,
      per_rank,
      multi,
      multi / single);

  torch::set_num_threads(per_rank);
  const double narrow = train(dist::Context(), a);
  fmt::print(
      "1 process  x {} threads: {:8.1f} images/s  (scaling of {} ranks "
      "over this: {:.2f})\n",
      per_rank,
      narrow,
      a.nproc,
      multi / narrow);
  return 0;
}
