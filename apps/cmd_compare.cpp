// `ltcl compare RUN_DIR...`: one table of the final metrics of several runs
// or groups of runs (mean +- std over a group's runs, e.g. the seeds of a
// study cell), each row saying how its checkpoint was selected.
//
//   ltcl compare runs/a runs/b                 one row per run
//   ltcl compare runs/study/bcl_rcl            a folder of run folders: a group
//   ltcl compare 'la=runs/la_s0,runs/la_s1'    a labelled group
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "ltcl/train/study.h"
#include "ltcl/util/error.h"

namespace ltcl::apps {
namespace {

namespace fs = std::filesystem;

std::pair<std::string, std::vector<std::string>> group_of(
    const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq != std::string::npos && !fs::exists(arg)) {
    std::vector<std::string> dirs;
    std::string rest = arg.substr(eq + 1), d;
    size_t start = 0;
    while (start <= rest.size()) {
      const auto comma = rest.find(',', start);
      d = rest.substr(start, comma == std::string::npos ? std::string::npos
                                                        : comma - start);
      if (!d.empty()) {
        dirs.push_back(d);
      }
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
    if (dirs.empty()) {
      fail("ltcl compare - group '{}' names no run folder", arg);
    }
    return {arg.substr(0, eq), dirs};
  }
  const fs::path p(arg);
  const std::string label = p.filename().empty()
      ? p.parent_path().filename().string()
      : p.filename().string();
  if (fs::exists(p / "metrics.json")) {
    return {label, {arg}};
  }
  std::vector<std::string> dirs;
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    for (const auto& e : fs::directory_iterator(p, ec)) {
      if (e.is_directory() && fs::exists(e.path() / "metrics.json")) {
        dirs.push_back(e.path().string());
      }
    }
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    fail(
        "ltcl compare - {} holds no metrics.json, nor run folders with one "
        "(has the run finished?)",
        (p / "metrics.json").string());
  }
  return {label, dirs};
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto runs = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand(
      "compare",
      "Table of top-1 / many / medium / few of finished runs or groups of "
      "runs (mean +- std)");
  cmd->add_option(
         "runs",
         *runs,
         "Run folders (each holds metrics.json), folders of run folders, or "
         "label=run1,run2,... groups")
      ->required();
  cmd->callback([runs] {
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    for (const auto& r : *runs) {
      groups.push_back(group_of(r));
    }
    std::cout << train::compare_groups(groups);
  });
}

}  // namespace ltcl::apps
