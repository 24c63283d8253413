// Contrastive core, forward + backward, B = 256, V = 2, D = 128, C = 100
// with prototypes and every switch on (BCL + RCL). Compare with
// bench/contrastive_loss_torch.py (same formula, plain PyTorch) through
// bench/loss_compare.sh. Threads: LTCL_BENCH_THREADS (default 1).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>

#include "ltcl/losses/contrastive.h"

namespace {

void BM_ContrastiveForwardBackward(benchmark::State& state) {
  const char* env = std::getenv("LTCL_BENCH_THREADS");
  torch::set_num_threads(env ? std::atoi(env) : 1);
  torch::manual_seed(0);
  const int64_t b = 256, v = 2, d = 128, c = 100;
  auto raw = torch::randn({b, v, d}, torch::requires_grad());
  auto raw_p = torch::randn({c, d}, torch::requires_grad());
  auto labels = torch::randint(c, {b});
  // Exponential long-tailed counts 500 .. 5 (CIFAR-100-LT IF 100).
  auto counts =
      torch::floor(
          500 * torch::pow(0.01, torch::arange(c, torch::kDouble) / (c - 1)))
          .to(torch::kLong);
  auto o = ltcl::losses::bcl_rcl_options(0.1, 1.0, 1.5, 0.1);
  for (auto _ : state) {
    auto f = raw / raw.norm(2, 2, true);
    auto p = raw_p / raw_p.norm(2, 1, true);
    auto loss =
        ltcl::losses::functional::contrastive_loss(f, labels, p, counts, o);
    loss.backward();
    benchmark::DoNotOptimize(raw.grad().data_ptr());
    raw.mutable_grad().zero_();
    raw_p.mutable_grad().zero_();
  }
}
BENCHMARK(BM_ContrastiveForwardBackward)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
