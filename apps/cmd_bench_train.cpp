// `ltcl bench train`: where the time of a real recipe's step goes
// (train::Trainer::bench), and the full pipeline against the model alone.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "ltcl/train/trainer.h"
#include "ltcl/util/logging.h"

namespace ltcl::apps {

void add_bench_train_command(CLI::App& bench) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    std::string device;
    int64_t threads = -1;
    int64_t steps = 20;
    int64_t warmup = 3;
    bool no_eval = false;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = bench.add_subcommand(
      "train",
      "Time a recipe's training step by phase; full pipeline vs model only");
  cmd->add_option("--config", a->config, "Recipe YAML")->required();
  cmd->add_option("--set", a->sets, "Override key.sub=value")->take_all();
  cmd->add_option("--device", a->device, "cpu | cuda | auto");
  cmd->add_option("--threads", a->threads, "Intra-op threads (0: all cores)");
  cmd->add_option("--steps", a->steps, "Timed steps of each kind")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "Untimed steps first")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  cmd->add_flag("--no-eval", a->no_eval, "Skip timing an evaluation pass");
  cmd->add_flag("--json", a->json, "One JSON object instead of the table");
  cmd->callback([a] {
    auto sets = a->sets;
    if (!a->device.empty()) {
      sets.push_back("train.device=" + a->device);
    }
    if (a->threads >= 0) {
      sets.push_back(fmt::format("train.threads={}", a->threads));
    }
    const auto cfg = train::load_config(a->config, sets);
    util::setup_logging("warn", "");
    train::Trainer trainer(cfg);
    train::BenchOptions o;
    o.steps = a->steps;
    o.warmup = a->warmup;
    o.evaluate = !a->no_eval;
    const auto r = trainer.bench(o);
    const auto& c = trainer.config();
    const int64_t views = train::method_info(c.loss.method).traits.views;
    const double epoch_s =
        r.step_seconds * static_cast<double>(r.steps_per_epoch);
    const double eval_share = epoch_s > 0 ? r.eval_seconds / epoch_s : 0;
    if (a->json) {
      nlohmann::json j;
      j["config"] = a->config;
      j["method"] = c.loss.method;
      j["arch"] = c.model.arch;
      j["batch_size"] = c.optim.batch_size;
      j["views"] = views;
      j["device"] = c.train.device;
      j["threads"] = c.train.threads;
      j["amp"] = c.train.amp;
      j["channels_last"] = c.train.channels_last == "true";
      j["steps"] = r.steps;
      j["images_per_step"] = r.images_per_step;
      for (const auto& [name, s] : r.phases) {
        j["phase_ms"][name] = s * 1e3;
      }
      j["step_ms"] = r.step_seconds * 1e3;
      j["pipeline_images_per_s"] = r.pipeline_images_per_s;
      j["model_only_images_per_s"] = r.model_only_images_per_s;
      j["pipeline_over_model_only"] =
          r.pipeline_images_per_s / r.model_only_images_per_s;
      j["steps_per_epoch"] = r.steps_per_epoch;
      if (!r.eval_split.empty()) {
        j["eval_split"] = r.eval_split;
        j["eval_images"] = r.eval_images;
        j["eval_s"] = r.eval_seconds;
        j["eval_share_of_epoch"] = eval_share;
      }
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << fmt::format(
        "bench train: {} ({}, {}, batch {}, {} view(s), {}, {} threads, amp "
        "{}{}), {} steps after {} warm-up\n",
        a->config, c.loss.method, c.model.arch, c.optim.batch_size, views,
        c.train.device, c.train.threads, c.train.amp,
        c.train.channels_last == "true" ? ", channels-last" : "", r.steps,
        a->warmup);
    std::cout << fmt::format("{:<16}{:>10}{:>8}\n", "phase", "ms/step", "share");
    for (const auto& [name, s] : r.phases) {
      std::cout << fmt::format(
          "{:<16}{:>10.1f}{:>7.1f}%\n", name, s * 1e3,
          100 * s / r.step_seconds);
    }
    std::cout << fmt::format(
        "{:<16}{:>10.1f}\n", "step", r.step_seconds * 1e3);
    std::cout << fmt::format(
        "full pipeline   {:8.1f} images/s (every view)\n"
        "model only      {:8.1f} images/s (same model and batch, synthetic "
        "tensors on the device)\n"
        "pipeline / model only {:.2f}\n",
        r.pipeline_images_per_s, r.model_only_images_per_s,
        r.pipeline_images_per_s / r.model_only_images_per_s);
    if (!r.eval_split.empty()) {
      std::cout << fmt::format(
          "evaluation      {:.2f} s for {} {} images = {:.1f}% of an epoch "
          "({} steps, {:.1f} s)\n",
          r.eval_seconds, r.eval_images, r.eval_split, 100 * eval_share,
          r.steps_per_epoch, epoch_s);
    }
  });
}

}  // namespace ltcl::apps
