// `ltcl train`, `ltcl eval`, `ltcl embed`: thin wrappers over
// ltcl/train/trainer.h.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "ltcl/eval/report.h"
#include "ltcl/models/network.h"
#include "ltcl/train/trainer.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/logging.h"

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

}  // namespace

void add_train_commands(CLI::App& app) {
  struct TrainArgs {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool resume = false;
    std::string device;
    int64_t threads = -1;
  };
  auto a = std::make_shared<TrainArgs>();
  auto* train = app.add_subcommand("train", "Train a recipe");
  train->add_option("--config", a->config, "Recipe YAML")->required();
  train->add_option("--set", a->sets, "Override key.sub=value")->take_all();
  train->add_option("--out", a->out, "Run folder (output.dir)");
  train->add_flag("--resume", a->resume, "Continue from <out>/last.pt");
  train->add_option("--device", a->device, "cpu | cuda | auto");
  train->add_option("--threads", a->threads, "Intra-op threads (0: all)");
  train->callback([a] {
    auto sets = a->sets;
    if (!a->out.empty()) {
      sets.push_back("output.dir=" + a->out);
    }
    if (!a->device.empty()) {
      sets.push_back("train.device=" + a->device);
    }
    if (a->threads >= 0) {
      sets.push_back(fmt::format("train.threads={}", a->threads));
    }
    auto cfg = train::load_config(a->config, sets);
    std::filesystem::create_directories(cfg.output.dir);
    util::setup_logging(
        "info", (std::filesystem::path(cfg.output.dir) / "train.log").string());
    train::Trainer trainer(cfg);
    auto result = trainer.run(a->resume);
    if (result.stopped) {
      std::cout << fmt::format(
          "stopped; resume with: ltcl train --config {} --out {} --resume\n",
          a->config,
          cfg.output.dir);
      return;
    }
    print_table(result.report);
    std::cout << fmt::format(
        "report: {0}/metrics.json, {0}/per_class.csv, {0}/confusion.csv; "
        "plots: {0}/per_class.png, {0}/curves.png\n",
        result.out_dir);
  });

  struct EvalArgs {
    std::string checkpoint;
    std::string split;
    bool json = false;
    std::string out;
    std::string device = "cpu";
  };
  auto e = std::make_shared<EvalArgs>();
  auto* ev = app.add_subcommand("eval", "Evaluate a checkpoint");
  ev->add_option("--checkpoint", e->checkpoint, "best.pt / last.pt")
      ->required();
  ev->add_option("--split", e->split, "test | val (default: the config's)");
  ev->add_flag("--json", e->json, "Print metrics as JSON");
  ev->add_option("--out", e->out,
                 "Folder for metrics.json, per_class.csv, confusion.csv "
                 "(default: eval_<split> next to the checkpoint)");
  ev->add_option("--device", e->device, "cpu | cuda | auto");
  ev->callback([e] {
    auto m = train::load_saved_model(e->checkpoint, e->split, e->device);
    auto counts = m.data.train->class_counts();
    auto report =
        train::evaluate_model(*m.model, *m.data.test, m.config, counts);
    std::filesystem::path out = e->out.empty()
        ? std::filesystem::path(e->checkpoint).parent_path() /
            ("eval_" + m.config.data.test_split)
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
    auto m = train::load_saved_model(b->checkpoint, b->split, b->device);
    train::write_embeddings_csv(b->out, *m.model, *m.data.test, m.config);
    std::cout << fmt::format(
        "wrote {} ({} samples); load with numpy.loadtxt('{}', "
        "delimiter=',', skiprows=1)\n",
        b->out,
        m.data.test->size(),
        b->out);
  });
}

}  // namespace ltcl::apps
