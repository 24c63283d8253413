// `ltcl bench peak`: this machine's float32 and bf16 matrix-product and
// convolution throughput, measured by ltcl itself, and for a recipe the
// FLOPs its training step executes (models::FlopCounter), the achieved
// GFLOP/s and their share of the measured peak (docs/training.md, "Speed
// against the silicon").
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ltcl/models/flops.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "ltcl/train/precision.h"
#include "ltcl/train/trainer.h"
#include "ltcl/util/error.h"
#include "ltcl/util/guard.h"
#include "ltcl/util/logging.h"

namespace ltcl::apps {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        return line.substr(line.find_first_not_of(' ', colon + 1));
      }
    }
  }
  return "unknown CPU";
}

// The x86 flags that decide the kernels (AVX2, AVX-512, BF16, AMX).
std::vector<std::string> cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::vector<std::string> out;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) {
      continue;
    }
    for (const char* f : {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}) {
      if ((" " + line + " ").find(std::string(" ") + f + " ") !=
          std::string::npos) {
        out.emplace_back(f);
      }
    }
    break;
  }
  return out;
}

// Best (shortest) seconds of `reps` calls of fn after one untimed call.
template <typename Fn>
double best_seconds(int64_t reps, Fn&& fn) {
  fn();
  double best = 1e300;
  for (int64_t i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(
        best,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count());
  }
  return best;
}

struct Kernel {
  std::string name;
  double gflop = 0;  // per call
  double f32 = 0;    // GFLOP/s
  double bf16 = 0;
};

Kernel gemm_peak(int64_t n, int64_t reps) {
  Kernel k;
  k.name = fmt::format("gemm {0}x{0}x{0}", n);
  k.gflop = 2.0 * static_cast<double>(n) * n * n / 1e9;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto a = torch::randn({n, n}).to(dtype);
    auto b = torch::randn({n, n}).to(dtype);
    auto c = torch::empty({n, n}, a.options());
    const double s = best_seconds(reps, [&] { torch::mm_out(c, a, b); });
    (dtype == torch::kFloat32 ? k.f32 : k.bf16) = k.gflop / s;
  }
  return k;
}

// A 3x3, stride-1, padding-1 convolution's forward on channels-last
// tensors (ltcl's fast layout on CPUs).
Kernel conv_peak(int64_t batch, int64_t channels, int64_t hw, int64_t reps) {
  Kernel k;
  k.name = fmt::format(
      "conv3x3 {0}->{0} {1}x{1} batch {2}", channels, hw, batch);
  k.gflop = models::conv_flops(
                {batch, channels, hw, hw}, {channels, channels, 3, 3}, {1},
                {1}, {1}, false, 1) /
      1e9;
  torch::NoGradGuard no_grad;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto x = torch::randn({batch, channels, hw, hw})
                 .to(dtype)
                 .contiguous(torch::MemoryFormat::ChannelsLast);
    auto w = torch::randn({channels, channels, 3, 3})
                 .to(dtype)
                 .contiguous(torch::MemoryFormat::ChannelsLast);
    const double s = best_seconds(reps, [&] {
      (void)torch::conv2d(x, w, {}, 1, 1);
    });
    (dtype == torch::kFloat32 ? k.f32 : k.bf16) = k.gflop / s;
  }
  return k;
}

}  // namespace

void add_bench_peak_command(CLI::App& bench) {
  struct Args {
    int64_t threads = 0;
    int64_t gemm = 2048;
    int64_t reps = 5;
    std::string config;
    std::vector<std::string> sets;
    int64_t steps = 10;
    int64_t warmup = 2;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = bench.add_subcommand(
      "peak",
      "This CPU's float32 / bf16 GEMM and convolution peak; with --config, "
      "a recipe step's counted FLOPs, achieved GFLOP/s and share of the peak");
  cmd->add_option("--threads", a->threads, "Intra-op threads (0: all cores)")
      ->check(CLI::Range(int64_t{0}, int64_t{4096}))
      ->capture_default_str();
  cmd->add_option("--gemm", a->gemm, "GEMM size n (n x n times n x n)")
      ->check(CLI::Range(int64_t{64}, int64_t{16384}))
      ->capture_default_str();
  cmd->add_option("--reps", a->reps, "Timed calls per kernel (the best counts)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  cmd->add_option("--config", a->config, "A recipe to measure against the peak");
  cmd->add_option("--set", a->sets, "Override key.sub=value")->take_all();
  cmd->add_option("--steps", a->steps, "Timed steps of the recipe")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "Untimed recipe steps first")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "One JSON object instead of the table");
  cmd->callback([a] {
    util::setup_logging("warn", "");
    // A recipe sets its own threads (train.threads); --threads wins.
    auto sets = a->sets;
    sets.push_back(fmt::format("train.threads={}", a->threads));
    std::optional<train::Config> cfg;
    if (!a->config.empty()) {
      cfg = train::load_config(a->config, sets);
    }
    const int64_t threads = util::setup_threads(a->threads);
    std::vector<Kernel> kernels = {
        gemm_peak(a->gemm, a->reps),
        conv_peak(128, 64, 16, a->reps),
        conv_peak(128, 16, 32, a->reps)};
    double peak32 = 0, peak16 = 0;
    for (const auto& k : kernels) {
      peak32 = std::max(peak32, k.f32);
      peak16 = std::max(peak16, k.bf16);
    }
    nlohmann::ordered_json j;
    j["cpu"] = cpu_model();
    j["flags"] = cpu_flags();
    j["threads"] = threads;
    j["libtorch"] = TORCH_VERSION;
    for (const auto& k : kernels) {
      j["kernels"].push_back(
          {{"kernel", k.name},
           {"gflop", k.gflop},
           {"float32_gflops", k.f32},
           {"bf16_gflops", k.bf16}});
    }
    j["peak_float32_gflops"] = peak32;
    j["peak_bf16_gflops"] = peak16;

    std::ostringstream text;
    text << fmt::format(
        "bench peak: {}, {} thread(s), flags {}, LibTorch {}\n", j["cpu"].get<std::string>(),
        threads, fmt::join(cpu_flags(), " "), TORCH_VERSION);
    text << fmt::format(
        "{:<32}{:>10}{:>18}{:>16}\n", "kernel", "GFLOP", "float32 GFLOP/s",
        "bf16 GFLOP/s");
    for (const auto& k : kernels) {
      text << fmt::format(
          "{:<32}{:>10.3f}{:>18.1f}{:>16.1f}\n", k.name, k.gflop, k.f32,
          k.bf16);
    }
    text << fmt::format(
        "{:<32}{:>10}{:>18.1f}{:>16.1f}\n", "peak (best of the above)", "",
        peak32, peak16);

    if (cfg) {
      train::Trainer trainer(*cfg);
      const auto& c = trainer.config();
      // One full-pipeline step and one model-only step (Trainer::bench
      // with steps 1, warm-up 0) under the counter: half is one step.
      models::FlopCounts counted;
      {
        models::FlopCounter counter;
        train::BenchOptions once;
        once.steps = 1;
        once.warmup = 0;
        once.evaluate = false;
        trainer.bench(once);
        counted = counter.counts();
      }
      const double step_flops = counted.total() / 2.0;
      train::BenchOptions o;
      o.steps = a->steps;
      o.warmup = a->warmup;
      o.evaluate = false;
      const auto r = trainer.bench(o);
      const bool bf16 = c.train.amp == "bf16";
      const double peak = bf16 ? peak16 : peak32;
      const double achieved = step_flops / r.step_seconds / 1e9;
      const double model_only = step_flops *
          (r.model_only_images_per_s / static_cast<double>(r.images_per_step)) /
          1e9;
      nlohmann::ordered_json rj;
      rj["config"] = a->config;
      rj["method"] = c.loss.method;
      rj["arch"] = c.model.arch;
      rj["batch_size"] = c.optim.batch_size;
      rj["images_per_step"] = r.images_per_step;
      rj["amp"] = c.train.amp;
      rj["channels_last"] = c.train.channels_last == "true";
      rj["step_gflop"] = step_flops / 1e9;
      rj["conv_forward_gflop"] = counted.conv_forward / 2e9;
      rj["conv_backward_gflop"] = counted.conv_backward / 2e9;
      rj["matmul_gflop"] = counted.matmul / 2e9;
      rj["gflop_per_image"] =
          step_flops / 1e9 / static_cast<double>(r.images_per_step);
      rj["step_ms"] = r.step_seconds * 1e3;
      rj["images_per_s"] = r.pipeline_images_per_s;
      rj["achieved_gflops"] = achieved;
      rj["model_only_gflops"] = model_only;
      rj["peak_gflops"] = peak;
      rj["share_of_peak"] = achieved / peak;
      rj["model_only_share_of_peak"] = model_only / peak;
      j["recipe"] = rj;
      text << fmt::format(
          "\nrecipe {} ({}, {}, batch {}, {} images a step, amp {}{}), {} "
          "steps after {} warm-up\n",
          a->config, c.loss.method, c.model.arch, c.optim.batch_size,
          r.images_per_step, c.train.amp,
          c.train.channels_last == "true" ? ", channels-last" : "", a->steps,
          a->warmup);
      text << fmt::format(
          "  counted a step: {:.2f} GFLOP (conv forward {:.2f}, conv backward "
          "{:.2f}, matmul {:.2f}) = {:.4f} GFLOP an image\n",
          step_flops / 1e9, counted.conv_forward / 2e9,
          counted.conv_backward / 2e9, counted.matmul / 2e9,
          rj["gflop_per_image"].get<double>());
      text << fmt::format(
          "  full pipeline: {:.1f} ms a step, {:.1f} images/s = {:.1f} "
          "GFLOP/s = {:.1f} % of the {} peak ({:.1f})\n",
          r.step_seconds * 1e3, r.pipeline_images_per_s, achieved,
          100 * achieved / peak, bf16 ? "bf16" : "float32", peak);
      text << fmt::format(
          "  model only:    {:.1f} GFLOP/s = {:.1f} % of that peak\n",
          model_only, 100 * model_only / peak);
    }
    if (a->json) {
      std::cout << j.dump() << "\n";
    } else {
      std::cout << text.str();
    }
  });
}

}  // namespace ltcl::apps
