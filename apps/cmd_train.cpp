// `ltcl train`, `ltcl eval`, `ltcl embed`: thin wrappers over
// ltcl/train/trainer.h.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "commands.h"
#include "ltcl/dist/context.h"
#include "ltcl/dist/launcher.h"
#include "ltcl/eval/evaluate.h"
#include "ltcl/eval/report.h"
#include "ltcl/models/network.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/train/trainer.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/guard.h"
#include "ltcl/util/logging.h"
#include "ltcl/util/signals.h"

namespace ltcl::apps {
namespace {

std::string pct(double v) {
  return std::isfinite(v) ? fmt::format("{:6.2f}", v) : std::string("     -");
}

void print_table(const eval::EvalReport& r) {
  std::cout << fmt::format(
      "overall {}  many {} ({} classes)  medium {} ({})  few {} ({})\n",
      pct(r.top1),
      pct(r.many),
      r.many_classes,
      pct(r.medium),
      r.medium_classes,
      pct(r.few),
      r.few_classes);
}

// This process's command line (for relaunching it as the ranks of a local
// job), from /proc/self/cmdline.
std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all(
      (std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::string cur;
  for (char ch : all) {
    if (ch == '\0') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  return args;
}

}  // namespace

void add_train_commands(CLI::App& app) {
  struct TrainArgs {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool resume = false;
    std::string device;
    int64_t threads = -1;
    int nproc = 0;
  };
  auto a = std::make_shared<TrainArgs>();
  auto* train = app.add_subcommand("train", "Train a recipe");
  train->add_option("--config", a->config, "Recipe YAML")->required();
  train->add_option("--set", a->sets, "Override key.sub=value")->take_all();
  train->add_option("--out", a->out, "Run folder (output.dir)");
  train->add_flag("--resume", a->resume, "Continue from <out>/last.pt");
  train->add_option("--device", a->device, "cpu | cuda | auto");
  train->add_option(
      "--threads",
      a->threads,
      "Intra-op threads per process (0: cores / processes)");
  train
      ->add_option(
          "--nproc", a->nproc, "Spawn N local worker processes (data parallel)")
      ->check(CLI::Range(1, 1024));
  train->callback([a] {
    if (a->nproc >= 1) {
      // Launcher: re-execute this command line without --nproc as ranks
      // 0..N-1 (threads split between them), supervise, report.
      auto args = own_command_line();
      std::vector<const char*> argv;
      for (const auto& x : args) {
        argv.push_back(x.c_str());
      }
      dist::LocalLaunchOptions lo;
      lo.threads_per_process =
          a->threads > 0 ? static_cast<int>(a->threads) : 0;
      const auto report = dist::spawn_local(
          a->nproc,
          dist::relaunch_command(static_cast<int>(argv.size()), argv.data()),
          lo);
      for (const auto& rank : report.ranks) {
        if (rank.code == util::kExitStopped) {
          throw ExitWith{util::kExitStopped};
        }
      }
      return;
    }
    // From here a signal only asks for a stop: one while the config and data
    // are read stops the run before its first step, with a last.pt.
    util::install_stop_handlers();
    util::debug_term_at("start");
    auto sets = a->sets;
    if (!a->out.empty()) {
      sets.push_back("output.dir=" + a->out);
    }
    if (!a->device.empty()) {
      sets.push_back("train.device=" + a->device);
    }
    const auto env = dist::launch_env();
    if (a->threads >= 0) {
      sets.push_back(fmt::format("train.threads={}", a->threads));
    }
    auto cfg = train::load_config(a->config, sets);
    if (env.world_size > 1 && cfg.train.threads == 0) {
      // "All cores" shared by the ranks on this machine.
      unsigned hw = std::max(1u, std::thread::hardware_concurrency());
      cfg.train.threads = std::max<int64_t>(
          1, static_cast<int64_t>(hw) / std::max(1, env.local_world_size));
    }
    if (env.rank == 0) {
      std::filesystem::create_directories(cfg.output.dir);
      util::setup_logging(
          "info",
          (std::filesystem::path(cfg.output.dir) / "train.log").string());
    } else {
      util::setup_logging("warn", "");
    }
    dist::ContextOptions co;
    co.timeout = std::chrono::milliseconds(
        static_cast<int64_t>(cfg.dist.timeout_s * 1000));
    auto ctx = dist::Context::from_env(co);
    train::Trainer trainer(cfg, ctx);
    auto result = trainer.run(a->resume);
    if (result.stopped) {
      if (ctx.is_main()) {
        std::cout << fmt::format(
            "stopped; resume with: ltcl train --config {} --out {} "
            "--resume\n",
            a->config,
            cfg.output.dir);
      }
      throw ExitWith{util::kExitStopped};
    }
    if (!ctx.is_main()) {
      return;
    }
    print_table(result.report);
    std::cout << fmt::format(
        "report: {0}/metrics.json, {0}/per_class.csv, {0}/confusion.csv{1}\n",
        result.out_dir,
        // Only what was written (output.plots false: no plots).
        cfg.output.plots
            ? fmt::format("; plots: {0}/per_class.png, {0}/curves.png",
                          result.out_dir)
            : std::string());
  });

  struct EvalArgs {
    std::string checkpoint;
    std::string split;
    bool json = false;
    std::string out;
    std::string device = "cpu";
    train::AdjustOverride adjust;
  };
  auto e = std::make_shared<EvalArgs>();
  auto* ev = app.add_subcommand("eval", "Evaluate a checkpoint");
  ev->add_option("--checkpoint", e->checkpoint, "best.pt / last.pt")
      ->required();
  ev->add_option("--split", e->split, "test | val (default: the config's)");
  ev->add_flag("--json", e->json, "Print metrics as JSON");
  ev->add_option(
      "--out",
      e->out,
      "Folder for metrics.json, per_class.csv, confusion.csv "
      "(default: eval_<split> next to the checkpoint)");
  ev->add_option("--device", e->device, "cpu | cuda | auto");
  add_adjust_options(ev, e->adjust);
  ev->callback([e] {
    auto m = train::load_saved_model(e->checkpoint, e->device, e->adjust);
    if (m.config.model.adjust != "none") {
      spdlog::info("logits: {}", m.model->adjust_description());
    }
    const std::string split =
        e->split.empty() ? m.config.data.test_split : e->split;
    // "val": the validation set as training made it (left out / held out),
    // unless the data's test split is itself named val (iNaturalist).
    auto test = split == "val" && m.config.data.test_split != "val"
        ? train::open_validation_set(m.config.data)
        : train::open_test_split(m.config.data, split);
    eval::EvalReport report;
    try {
      report = eval::evaluate_model(
          *m.model, *test, m.eval_recipe(), m.config.train.eval_batch_size,
          m.info.class_counts);
    } catch (const util::NonFiniteState& err) {
      fail(
          "eval - '{}': the model's outputs are not finite ({}): its "
          "weights diverged",
          e->checkpoint,
          err.what());
    }
    std::filesystem::path out =
        e->out.empty() ? std::filesystem::path(e->checkpoint).parent_path() /
                             ("eval_" + split)
                       : std::filesystem::path(e->out);
    std::filesystem::create_directories(out);
    eval::write_metrics_json((out / "metrics.json").string(), report);
    eval::write_per_class_csv((out / "per_class.csv").string(), report);
    eval::write_confusion_csv((out / "confusion.csv").string(), report);
    if (e->json) {
      std::cout << eval::report_json(report, {}, true) << "\n";
    } else {
      print_table(report);
      std::cout << "confusion matrix: " << (out / "confusion.csv").string()
                << "\n";
    }
  });

  struct EmbedArgs {
    std::string checkpoint;
    std::string out;
    std::string split;
    std::string device = "cpu";
  };
  auto b = std::make_shared<EmbedArgs>();
  auto* em = app.add_subcommand(
      "embed", "Write backbone features and projections with labels (CSV)");
  em->add_option("--checkpoint", b->checkpoint, "Checkpoint")->required();
  em->add_option("--out", b->out, "CSV file")->required();
  em->add_option("--split", b->split, "test | val (default: the config's)");
  em->add_option("--device", b->device, "cpu | cuda | auto");
  em->callback([b] {
    auto m = train::load_saved_model(b->checkpoint, b->device);
    const std::string split =
        b->split.empty() ? m.config.data.test_split : b->split;
    auto test = split == "val" && m.config.data.test_split != "val"
        ? train::open_validation_set(m.config.data)
        : train::open_test_split(m.config.data, split);
    eval::write_embeddings_csv(
        b->out, *m.model, *test, m.eval_recipe(),
        m.config.train.eval_batch_size);
    std::cout << fmt::format(
        "wrote {} ({} samples); load with numpy.loadtxt('{}', "
        "delimiter=',', skiprows=1)\n",
        b->out,
        test->size(),
        b->out);
  });
}

}  // namespace ltcl::apps
