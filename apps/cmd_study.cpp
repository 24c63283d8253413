// `ltcl study`: seeds x grid of a recipe, resumable, mean +- std tables
// (ltcl/train/study.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "commands.h"
#include "ltcl/train/study.h"
#include "ltcl/util/error.h"
#include "ltcl/util/logging.h"
#include "ltcl/util/signals.h"

namespace ltcl::apps {

void add_study_command(CLI::App& app) {
  struct Args {
    std::string config;
    std::string seeds = "0,1,2";
    std::vector<std::string> grid;
    std::vector<std::string> sets;
    std::string out;
    int64_t threads = -1;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "study",
      "Run a recipe over seeds and a grid of config values (resumable); "
      "write mean +- std tables");
  cmd->add_option("--config", a->config, "Recipe YAML")->required();
  cmd->add_option("--seeds", a->seeds, "train.seed values, e.g. 0,1,2");
  cmd->add_option(
         "--grid", a->grid, "key=v1,v2,... (repeat for more axes)")
      ->take_all();
  cmd->add_option("--set", a->sets, "Override key.sub=value in every run")
      ->take_all();
  cmd->add_option("--out", a->out, "Study folder")->required();
  cmd->add_option("--threads", a->threads, "Intra-op threads (0: all cores)");
  cmd->callback([a] {
    // Signals only ask for a stop, also between runs and while one opens
    // its data (the run in progress stops resumably, the study ends).
    util::install_stop_handlers();
    util::debug_term_at("start");
    train::StudySpec spec;
    spec.config = a->config;
    spec.sets = a->sets;
    spec.out = a->out;
    spec.seeds.clear();
    std::stringstream ss(a->seeds);
    std::string s;
    while (std::getline(ss, s, ',')) {
      try {
        size_t used = 0;
        spec.seeds.push_back(std::stoll(s, &used));
        if (used != s.size()) {
          throw std::invalid_argument(s);
        }
      } catch (const std::exception&) {
        fail("ltcl study --seeds: '{}' is not an integer", s);
      }
    }
    for (const auto& g : a->grid) {
      spec.grid.push_back(train::parse_study_axis(g));
    }
    util::setup_logging("info", "");
    const auto runs = train::plan_study(spec);
    std::cout << fmt::format(
        "study: {} runs ({} seeds x {} cells) in {}\n", runs.size(),
        spec.seeds.size(), runs.size() / spec.seeds.size(), a->out);
    auto outcome = train::run_study(spec, a->threads);
    std::cout << fmt::format(
        "study: {} finished before, {} resumed, {} trained{}\n",
        outcome.skipped, outcome.resumed, outcome.trained,
        outcome.stopped ? "; stopped by a signal (run the same command to "
                          "continue)"
                        : "");
    std::cout << train::write_study_tables(spec, runs);
    std::cout << fmt::format(
        "tables: {0}/study.md, {0}/study.csv, {0}/study.json\n", a->out);
    if (outcome.stopped) {
      throw ExitWith{util::kExitStopped};
    }
  });
}

}  // namespace ltcl::apps
