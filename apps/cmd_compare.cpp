// `ltcl compare RUN_DIR...`: one table of the final metrics of several runs
// (each run folder's metrics.json), e.g. a method against its CE baseline.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ltcl/util/error.h"

namespace ltcl::apps {
namespace {

std::string cell(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) {
    return fmt::format("{:>8}", "-");  // e.g. no class in that shot group
  }
  return fmt::format("{:8.2f}", j[key].get<double>());
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto runs = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand(
      "compare", "Table of top-1 / many / medium / few of finished runs");
  cmd->add_option("runs", *runs, "Run folders (each holds metrics.json)")
      ->required();
  cmd->callback([runs] {
    std::cout << fmt::format(
        "{:<32} {:>8} {:>8} {:>8} {:>8}\n",
        "run",
        "overall",
        "many",
        "medium",
        "few");
    for (const auto& run : *runs) {
      const auto path = std::filesystem::path(run) / "metrics.json";
      std::ifstream in(path);
      if (!in) {
        fail(
            "ltcl compare - cannot read {} (has the run finished?)",
            path.string());
      }
      nlohmann::json j;
      try {
        in >> j;
      } catch (const nlohmann::json::exception& e) {
        fail(
            "ltcl compare - {} is not valid JSON: {}", path.string(), e.what());
      }
      std::cout << fmt::format(
          "{:<32} {} {} {} {}\n",
          std::filesystem::path(run).filename().string(),
          cell(j, "top1"),
          cell(j, "many"),
          cell(j, "medium"),
          cell(j, "few"));
    }
  });
}

}  // namespace ltcl::apps
