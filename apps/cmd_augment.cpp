// `ltcl data preview` and `ltcl bench loader`: look at the recipes, time the
// loader.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "ltcl/pipeline/preview.h"
#include "ltcl/augment/recipe.h"
#include "ltcl/data/cached.h"
#include "ltcl/data/image_io.h"
#include "ltcl/pipeline/loader.h"
#include "ltcl/data/open.h"
#include "ltcl/util/error.h"

namespace ltcl::apps {

namespace {

data::DatasetPtr open_for_command(
    const std::string& dataset,
    const std::string& root,
    const std::string& split) {
  data::DatasetSpec spec;
  spec.kind = dataset;
  spec.root = root;
  spec.split = split;
  return data::open_dataset(spec);
}

std::shared_ptr<pipeline::MultiViewDataset> build_views(
    data::DatasetPtr data,
    const std::string& stats_name,
    const std::string& recipes) {
  const auto stats = augment::DatasetStats::of(stats_name, *data);
  std::vector<augment::Recipe> views;
  for (const auto& name : augment::split_recipe_list(recipes)) {
    views.push_back(augment::make_recipe(name, stats));
  }
  return std::make_shared<pipeline::MultiViewDataset>(data, views);
}

struct PreviewArgs {
  std::string dataset;
  std::string root;
  std::string split = "train";
  std::string stats;
  std::string recipes = "cifar_weak,simclr,simclr";
  int count = 8;
  std::string out;
  uint64_t seed = 0;
  int scale = 0;
};

void run_preview(const PreviewArgs& a) {
  if (a.count <= 0) {
    fail("ltcl data preview - --count must be positive: {{got {}}}", a.count);
  }
  auto data = open_for_command(a.dataset, a.root, a.split);
  auto views =
      build_views(data, a.stats.empty() ? a.dataset : a.stats, a.recipes);
  // Samples spread evenly over the dataset (folders are sorted by class).
  std::vector<int64_t> indices;
  const size_t n = data->size();
  const size_t count = std::min<size_t>(a.count, n);
  for (size_t k = 0; k < count; ++k) {
    indices.push_back(static_cast<int64_t>(k * n / count));
  }
  pipeline::PreviewOptions po;
  po.seed = a.seed;
  po.scale = a.scale;
  const data::Image grid = pipeline::preview_grid(*views, indices, po);
  data::write_png(a.out, grid);
  std::printf(
      "wrote %s: %zu samples x %zu views (%dx%d)\n",
      a.out.c_str(),
      indices.size(),
      views->num_views(),
      grid.width,
      grid.height);
}

struct BenchArgs {
  std::string dataset = "folder";
  std::string root;
  std::string split = "train";
  std::string stats;
  std::string views = "cifar_weak,simclr,simclr";
  int64_t batch_size = 256;
  int threads = 2;
  double seconds = 10;
  int warmup = 5;
  bool cache = false;
  bool json = false;
  uint64_t seed = 0;
};

void run_bench(const BenchArgs& a) {
  using clock = std::chrono::steady_clock;
  if (!(a.seconds > 0)) {
    fail(
        "ltcl bench loader - --seconds must be positive: {{got {}}}",
        a.seconds);
  }
  if (a.warmup < 0) {
    fail("ltcl bench loader - --warmup must be >= 0: {{got {}}}", a.warmup);
  }
  data::DatasetPtr data = open_for_command(a.dataset, a.root, a.split);
  double prefill_s = 0;
  if (a.cache) {
    // Decode everything once, in parallel, so the timed part is steady.
    auto cached = std::make_shared<data::CachedDataset>(data);
    const auto t0 = clock::now();
    std::vector<std::thread> pool;
    const int t = std::max(1, a.threads);
    for (int k = 0; k < t; ++k) {
      pool.emplace_back([&, k] {
        for (size_t i = k; i < cached->size(); i += t) {
          cached->get(i);
        }
      });
    }
    for (auto& th : pool) {
      th.join();
    }
    prefill_s = std::chrono::duration<double>(clock::now() - t0).count();
    data = cached;
  }
  auto views =
      build_views(data, a.stats.empty() ? a.dataset : a.stats, a.views);
  auto sampler = std::make_shared<data::RandomSampler>(
      static_cast<int64_t>(data->size()), data::SamplerOptions{a.seed});
  pipeline::Loader loader(
      views,
      sampler,
      pipeline::LoaderOptions()
          .batch_size(a.batch_size)
          .workers(a.threads)
          .seed(a.seed));
  int64_t epoch = 0;
  loader.set_epoch(epoch);
  auto next = [&] {
    auto b = loader.next();
    if (!b) {
      loader.set_epoch(++epoch);
      b = loader.next();
    }
    return std::move(*b);
  };
  for (int k = 0; k < a.warmup; ++k) {
    next();
  }
  int64_t samples = 0;
  int64_t batches = 0;
  const auto start = clock::now();
  double elapsed = 0;
  while (elapsed < a.seconds) {
    samples += next().labels.size(0);
    ++batches;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  const int64_t images = samples * static_cast<int64_t>(views->num_views());
  nlohmann::json out = {
      {"loader", "ltcl"},
      {"dataset", a.dataset},
      {"root", a.root},
      {"views", a.views},
      {"batch_size", a.batch_size},
      {"threads", a.threads},
      {"cache", a.cache},
      {"prefill_seconds", prefill_s},
      {"warmup_batches", a.warmup},
      {"batches", batches},
      {"seconds", elapsed},
      {"images", images},
      {"images_per_s", images / elapsed},
      {"samples_per_s", samples / elapsed},
  };
  if (a.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf(
        "%.1f images/s (%zu views, %.1f samples/s) over %.1f s, %d threads%s\n",
        images / elapsed,
        views->num_views(),
        samples / elapsed,
        elapsed,
        a.threads,
        a.cache ? ", decode cache" : "");
  }
}

}  // namespace

void add_data_preview_command(CLI::App& data) {
  auto args = std::make_shared<PreviewArgs>();
  auto* cmd = data.add_subcommand(
      "preview",
      "PNG grid of augmented views: a row per sample, a column per view");
  cmd->add_option(
         "--dataset",
         args->dataset,
         "Dataset kind: cifar10, cifar100, idx, folder, list")
      ->required();
  cmd->add_option("--root", args->root, "Dataset root")->required();
  cmd->add_option("--split", args->split, "train or test")
      ->capture_default_str();
  cmd->add_option(
      "--stats",
      args->stats,
      "Mean/std of this dataset: cifar10, cifar100, imagenet, mnist, "
      "fashion_mnist (default: --dataset; others 0.5/0.5)");
  cmd->add_option(
         "--recipe", args->recipes, "Comma-separated recipes, one per view")
      ->capture_default_str();
  cmd->add_option("--count", args->count, "Samples (rows)")
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Output PNG")->required();
  cmd->add_option("--seed", args->seed, "Augmentation seed")
      ->capture_default_str();
  cmd->add_option("--scale", args->scale, "Cell upscale (0 = auto)")
      ->capture_default_str();
  cmd->callback([args] { run_preview(*args); });
}

void add_bench_loader_command(CLI::App& bench) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = bench.add_subcommand(
      "loader", "Loader throughput in images/s (every view counted)");
  cmd->add_option(
         "--dataset",
         args->dataset,
         "Dataset kind: cifar10, cifar100, idx, folder, list")
      ->capture_default_str();
  cmd->add_option("--root", args->root, "Dataset root")->required();
  cmd->add_option("--split", args->split, "train or test")
      ->capture_default_str();
  cmd->add_option("--stats", args->stats, "Mean/std of this dataset");
  cmd->add_option("--views", args->views, "Comma-separated recipes")
      ->capture_default_str();
  cmd->add_option("--batch-size", args->batch_size)->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0 = inline)")
      ->capture_default_str();
  cmd->add_option("--seconds", args->seconds, "Timed duration")
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Untimed batches first")
      ->capture_default_str();
  cmd->add_flag("--cache", args->cache, "Decode every image once, up front");
  cmd->add_flag("--json", args->json, "One JSON line");
  cmd->add_option("--seed", args->seed)->capture_default_str();
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace ltcl::apps
