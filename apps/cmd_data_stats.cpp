// `ltcl data stats`: the classes, per-class counts, total and shot-group
// sizes of a dataset or of its long-tailed subset; `--json` for machines,
// `--list` for the selected samples (to diff against a Python pipeline).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "ltcl/data/cifar.h"
#include "ltcl/data/idx.h"
#include "ltcl/data/open.h"
#include "ltcl/data/shot_groups.h"
#include "ltcl/util/error.h"

namespace ltcl::apps {

namespace {

struct StatsArgs {
  data::DatasetSpec spec;
  data::LongTailSpec long_tail;
  data::ShotThresholds thresholds;
  bool json = false;
  bool list = false;
  bool mean_std = false;
  int threads = 0;
};

// Per-channel mean and (population) standard deviation of pixel / 255 over
// every pixel of every image of `d`, decoded as stored (no resizing). Gray
// images in an RGB set count in all three channels. Decoding is spread over
// `threads` threads (0: all cores); sums are exact integers.
struct ChannelStats {
  std::vector<double> mean, std;
  uint64_t pixels = 0;
};
ChannelStats channel_stats(const data::Dataset& d, int threads) {
  const int channels = d.get(0).image.channels == 1 ? 1 : 3;
  struct Acc {
    std::array<uint64_t, 3> sum{}, sq{};
    uint64_t n = 0;
    std::string error;
  };
  const int workers = std::max(
      1, threads > 0 ? threads
                     : static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<Acc> acc(static_cast<size_t>(workers));
  std::atomic<size_t> next{0};
  auto work = [&](Acc& a) {
    try {
      for (size_t i = next++; i < d.size(); i = next++) {
        const auto e = d.get(i);
        const auto& im = e.image;
        const uint8_t* p = im.data();
        const size_t plane = static_cast<size_t>(im.height) * im.width;
        for (size_t k = 0; k < plane; ++k) {
          for (int c = 0; c < channels; ++c) {
            const uint64_t v = im.channels == 1 ? p[k] : p[3 * k + c];
            a.sum[c] += v;
            a.sq[c] += v * v;
          }
        }
        a.n += plane;
      }
    } catch (const std::exception& err) {
      a.error = err.what();
      next = d.size();
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) {
    pool.emplace_back(work, std::ref(acc[static_cast<size_t>(w)]));
  }
  work(acc[0]);
  for (auto& t : pool) {
    t.join();
  }
  Acc total;
  for (const auto& a : acc) {
    if (!a.error.empty()) {
      fail("data stats --mean-std - {}", a.error);
    }
    for (int c = 0; c < 3; ++c) {
      total.sum[c] += a.sum[c];
      total.sq[c] += a.sq[c];
    }
    total.n += a.n;
  }
  ChannelStats s;
  s.pixels = total.n;
  for (int c = 0; c < channels; ++c) {
    const double n = static_cast<double>(total.n);
    const double m = static_cast<double>(total.sum[c]) / n;
    const double var = static_cast<double>(total.sq[c]) / n - m * m;
    s.mean.push_back(m / 255.0);
    s.std.push_back(std::sqrt(std::max(0.0, var)) / 255.0);
  }
  return s;
}

std::string number_list(const std::vector<double>& v) {
  std::vector<std::string> items;
  for (double x : v) {
    items.push_back(fmt::format("{:.4f}", x));
  }
  return "[" + fmt::format("{}", fmt::join(items, ", ")) + "]";
}

// What --list prints for sample i: the file path for datasets of image
// files, the index in the original file order for in-memory formats (CIFAR,
// IDX), which is what the Python reference's indices refer to.
std::string listing(const data::Dataset& d, size_t i) {
  const data::Dataset* base = &d;
  size_t index = i;
  if (const auto* sub = dynamic_cast<const data::Subset*>(&d)) {
    base = sub->base().get();
    index = sub->indices()[i];
  }
  if (dynamic_cast<const data::CifarDataset*>(base) ||
      dynamic_cast<const data::IdxDataset*>(base)) {
    return std::to_string(index);
  }
  return base->describe(index);
}

void run_stats(const StatsArgs& args) {
  const data::DatasetPtr base = data::open_dataset(args.spec);
  const data::DatasetPtr ds = data::make_long_tailed(base, args.long_tail);
  const auto counts = ds->class_counts();
  const auto groups = data::shot_groups(counts, args.thresholds);
  const auto& names = ds->class_names();
  ChannelStats cs;
  if (args.mean_std) {
    cs = channel_stats(*ds, args.threads);
  }

  if (args.json) {
    nlohmann::json j;
    j["dataset"] = args.spec.kind;
    j["root"] = args.spec.root;
    j["split"] = args.spec.split;
    j["profile"] = args.long_tail.profile;
    j["imbalance_factor"] = args.long_tail.imbalance_factor;
    j["seed"] = args.long_tail.seed;
    j["base_size"] = base->size();
    j["num_classes"] = ds->num_classes();
    j["class_names"] = names;
    j["class_counts"] = counts;
    j["size"] = ds->size();
    j["shot_groups"] = {
        {"many", groups.many},
        {"medium", groups.medium},
        {"few", groups.few},
        {"many_above", args.thresholds.many_above},
        {"few_below", args.thresholds.few_below}};
    if (args.mean_std) {
      j["mean"] = cs.mean;
      j["std"] = cs.std;
      j["pixels"] = cs.pixels;
    }
    if (args.list) {
      auto samples = nlohmann::json::array();
      for (size_t i = 0; i < ds->size(); ++i) {
        samples.push_back(listing(*ds, i));
      }
      j["samples"] = std::move(samples);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  if (args.list) {
    for (size_t i = 0; i < ds->size(); ++i) {
      std::printf("%s\n", listing(*ds, i).c_str());
    }
    return;
  }
  fmt::print(
      "dataset: {} {} (split {}, {} samples)\n",
      args.spec.kind,
      args.spec.root,
      args.spec.split,
      base->size());
  if (ds != base) {
    fmt::print(
        "long tail: profile {}, imbalance factor {}, seed {}\n",
        args.long_tail.profile,
        args.long_tail.imbalance_factor,
        args.long_tail.seed);
  }
  fmt::print("classes: {}\n", names.size());
  size_t width = 5;
  for (const auto& n : names) {
    width = std::max(width, n.size());
  }
  for (size_t c = 0; c < names.size(); ++c) {
    fmt::print(
        "  {:>4}  {:<{}}  {:>8}  {}\n",
        c,
        names[c],
        width,
        counts[c],
        data::shot_group_name(groups.group_of_class[c]));
  }
  fmt::print("total: {}\n", ds->size());
  fmt::print(
      "shot groups (many > {}, few < {}): many {}, medium {}, few {}\n",
      args.thresholds.many_above,
      args.thresholds.few_below,
      groups.many,
      groups.medium,
      groups.few);
  if (args.mean_std) {
    fmt::print(
        "pixel / 255 over {} pixels: mean {}  std {}\n"
        "to train with them: --set data.mean={} data.std={}\n",
        cs.pixels,
        number_list(cs.mean),
        number_list(cs.std),
        number_list(cs.mean),
        number_list(cs.std));
  }
}

}  // namespace

void add_data_stats_command(CLI::App& data) {
  auto args = std::make_shared<StatsArgs>();
  auto* cmd = data.add_subcommand(
      "stats",
      "Classes, per-class counts, total and shot groups of a dataset or of "
      "its long-tailed subset");
  cmd->add_option("--dataset", args->spec.kind, "Dataset kind")
      ->required()
      ->check(CLI::IsMember({"cifar10", "cifar100", "idx", "folder", "list"}));
  cmd->add_option("--root", args->spec.root, "Dataset root folder")->required();
  cmd->add_option("--split", args->spec.split, "train or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "test"}));
  cmd->add_option(
         "--imbalance-factor",
         args->long_tail.imbalance_factor,
         "n_max / n_min of the long-tailed subset (1 = the whole dataset)")
      ->capture_default_str();
  cmd->add_option("--profile", args->long_tail.profile, "exp or step")
      ->capture_default_str()
      ->check(CLI::IsMember({"exp", "step"}));
  cmd->add_option(
         "--seed", args->long_tail.seed, "NumPy legacy seed of the selection")
      ->capture_default_str();
  cmd->add_option(
      "--n-max",
      args->long_tail.n_max,
      "Balanced per-class count (default: size / classes)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag(
      "--mean-std",
      args->mean_std,
      "Also compute the per-channel mean / std of pixel / 255 over the "
      "(selected) images, for data.mean / data.std");
  cmd->add_option("--threads", args->threads, "Decoding threads (0: all cores)")
      ->check(CLI::Range(0, 4096));
  cmd->add_flag(
      "--list",
      args->list,
      "Print the selected samples one a line, in selection order (file "
      "path, or index in the original file order)");
  cmd->add_option(
      "--list-file",
      args->spec.list_file,
      "list: the list file (default <root>/<split>.txt)");
  cmd->add_option(
      "--names-file", args->spec.names_file, "list: class names, one a line");
  cmd->add_flag(
      "--coarse", args->spec.cifar100_coarse, "cifar100: the 20 coarse labels");
  cmd->add_option(
         "--idx-names",
         args->spec.idx_names,
         "idx: class names auto|digits|fashion")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "digits", "fashion"}));
  cmd->add_option(
         "--many-above",
         args->thresholds.many_above,
         "Many-shot classes have more than this many samples")
      ->capture_default_str();
  cmd->add_option(
         "--few-below",
         args->thresholds.few_below,
         "Few-shot classes have fewer than this many samples")
      ->capture_default_str();
  cmd->callback([args] { run_stats(*args); });
}

}  // namespace ltcl::apps
