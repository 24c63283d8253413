// `ltcl study` (train/study.h): the plan, the statistics against hand
// values, skip / resume of a stopped study with a stand-in trainer (no
// data needed), the compare groups, and end to end on tiny runs on
// synthetic MNIST-format data killed with SIGKILL and finished by a second
// invocation.
#include "ltcl/train/study.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ltcl/util/error.h"
#include "runs.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::train::StudySpec;

TEST(Study, PlanIsTheCartesianProductTimesSeeds) {
  StudySpec spec;
  spec.config = "x.yaml";
  spec.seeds = {0, 3};
  spec.out = "/tmp/study";
  spec.sets = {"schedule.epochs=2"};
  spec.grid = {
      ltcl::train::parse_study_axis("loss.margin_max=0, 0.1"),
      ltcl::train::parse_study_axis("loss.feature_scale=1,2")};
  auto runs = ltcl::train::plan_study(spec);
  ASSERT_EQ(runs.size(), 8u);
  EXPECT_EQ(runs[0].cell, "margin_max=0,feature_scale=1");
  EXPECT_EQ(runs[1].cell, "margin_max=0,feature_scale=1");
  EXPECT_EQ(runs[1].seed, 3);
  EXPECT_EQ(runs[2].cell, "margin_max=0,feature_scale=2");
  EXPECT_EQ(runs[7].cell, "margin_max=0.1,feature_scale=2");
  EXPECT_EQ(runs[7].dir, fs::path("/tmp/study/margin_max=0.1,feature_scale=2/seed3"));
  EXPECT_EQ(
      runs[7].overrides,
      (std::vector<std::string>{
          "schedule.epochs=2", "loss.margin_max=0.1", "loss.feature_scale=2",
          "train.seed=3",
          "output.dir=/tmp/study/margin_max=0.1,feature_scale=2/seed3"}));
  spec.grid.clear();
  EXPECT_EQ(ltcl::train::plan_study(spec)[0].cell, "base");
}

// A stage 2 over the seeds of a stage-1 study: "{seed}" in an override
// (every occurrence, --set and --grid alike) is the run's seed.
TEST(Study, SeedMarkNamesEachRunsStageOne) {
  StudySpec spec;
  spec.config = "crt.yaml";
  spec.seeds = {2, 10};
  spec.out = "/tmp/s2";
  spec.sets = {"model.init_from=/tmp/s1/base/seed{seed}/best.pt",
               "output.name=s{seed}-{seed}"};
  spec.grid = {ltcl::train::parse_study_axis("data.root=d{seed}")};
  auto runs = ltcl::train::plan_study(spec);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(
      runs[1].overrides,
      (std::vector<std::string>{
          "model.init_from=/tmp/s1/base/seed10/best.pt",
          "output.name=s10-10", "data.root=d10", "train.seed=10",
          "output.dir=/tmp/s2/root=d{seed}/seed10"}));
  EXPECT_EQ(runs[0].overrides[0], "model.init_from=/tmp/s1/base/seed2/best.pt");
}

TEST(Study, BadPlansAreNamedErrors) {
  StudySpec spec;
  spec.out = "/tmp/s";
  spec.seeds = {1, 1};
  ltcl::test::expect_error(
      [&] { ltcl::train::plan_study(spec); }, {"seed 1", "twice"});
  spec.seeds = {};
  ltcl::test::expect_error(
      [&] { ltcl::train::plan_study(spec); }, {"no seeds"});
  spec.seeds = {0};
  spec.grid = {
      ltcl::train::parse_study_axis("a.b=1"),
      ltcl::train::parse_study_axis("a.b=2")};
  ltcl::test::expect_error(
      [&] { ltcl::train::plan_study(spec); }, {"a.b", "twice"});
  spec.grid = {ltcl::train::parse_study_axis("train.seed=1,2")};
  ltcl::test::expect_error(
      [&] { ltcl::train::plan_study(spec); }, {"train.seed", "study itself"});
  ltcl::test::expect_error(
      [] { ltcl::train::parse_study_axis("noequals"); }, {"key=v1", "noequals"});
  ltcl::test::expect_error(
      [] { ltcl::train::parse_study_axis("a=1,,2"); }, {"empty value"});
}

TEST(Study, SummaryAgainstHandValues) {
  // 1, 2, 3: mean 2, sample std 1, t(0.975, 2) = 4.3027 -> 4.3027 / sqrt 3.
  auto s = ltcl::train::summarize({1, 2, 3});
  EXPECT_EQ(s.n, 3);
  EXPECT_DOUBLE_EQ(s.mean, 2.0);
  EXPECT_DOUBLE_EQ(s.std, 1.0);
  EXPECT_NEAR(s.ci95, 4.3027 / std::sqrt(3.0), 1e-12);
  // NaN values are left out; one value has no interval.
  s = ltcl::train::summarize({5, NAN});
  EXPECT_EQ(s.n, 1);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_TRUE(std::isnan(s.ci95));
  EXPECT_EQ(ltcl::train::summarize({}).n, 0);
  // 10, 14: mean 12, std sqrt(8), t(1) = 12.7062.
  s = ltcl::train::summarize({10, 14});
  EXPECT_NEAR(s.std, std::sqrt(8.0), 1e-12);
  EXPECT_NEAR(s.ci95, 12.7062 * std::sqrt(8.0) / std::sqrt(2.0), 1e-9);
  // Student t quantiles (tables): dof 30, 60 (2.0003), 120 (1.9799).
  EXPECT_DOUBLE_EQ(ltcl::train::student_t_975(30), 2.0423);
  EXPECT_NEAR(ltcl::train::student_t_975(60), 2.0003, 2e-4);
  EXPECT_NEAR(ltcl::train::student_t_975(120), 1.9799, 2e-4);
}

void write_metrics(const fs::path& dir, double top1, double few) {
  fs::create_directories(dir);
  nlohmann::json j;
  j["selected_by"] = "val";
  j["selection"] = "validation-selected";
  j["top1"] = top1;
  j["many"] = 90.0;
  j["few"] = few;
  j["val"]["top1"] = top1 + 1;
  std::ofstream(dir / "metrics.json") << j.dump();
}

// A stand-in trainer: the third call "is stopped by a signal" (writes
// last.pt, no metrics); every other finishes with top-1 = 10 * seed + a
// grid-dependent offset.
TEST(Study, StoppedStudyContinuesWithOnlyTheMissingRuns) {
  ltcl::test::TempDir dir;
  std::ofstream(dir / "r.yaml") << "loss:\n  method: la\n";
  StudySpec spec;
  spec.config = (dir / "r.yaml").string();
  spec.seeds = {0, 1, 2};
  spec.grid = {ltcl::train::parse_study_axis("optim.lr=0.1,0.2")};
  spec.out = dir / "study";
  int calls = 0;
  std::vector<std::pair<std::string, bool>> seen;
  auto fake = [&](const ltcl::train::Config& c, bool resume) {
    ++calls;
    seen.emplace_back(c.output.dir, resume);
    ltcl::train::TrainResult r;
    if (calls == 3) {
      fs::create_directories(c.output.dir);
      std::ofstream(fs::path(c.output.dir) / "last.pt") << "x";
      r.stopped = true;
      return r;
    }
    write_metrics(
        c.output.dir, 10.0 * static_cast<double>(c.train.seed) +
            (c.optim.lr > 0.15 ? 1 : 0),
        NAN);
    return r;
  };
  auto first = ltcl::train::run_study(spec, 1, fake);
  EXPECT_TRUE(first.stopped);
  EXPECT_EQ(first.trained, 3);
  EXPECT_EQ(calls, 3);
  seen.clear();
  auto second = ltcl::train::run_study(spec, 1, fake);
  EXPECT_FALSE(second.stopped);
  EXPECT_EQ(second.skipped, 2);
  EXPECT_EQ(second.resumed, 1);
  EXPECT_EQ(second.trained, 3);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].first, (spec.out / "lr=0.1" / "seed2").string());
  EXPECT_TRUE(seen[0].second);
  EXPECT_FALSE(seen[1].second);
  // A third invocation has nothing left to do.
  auto third = ltcl::train::run_study(spec, 1, fake);
  EXPECT_EQ(third.skipped, 6);
  EXPECT_EQ(calls, 7);
  // The table: lr 0.1 -> 0, 10, 20 (mean 10, std 10); lr 0.2 -> 1, 11, 21.
  auto j = nlohmann::json::parse(ltcl::test::read_all(spec.out / "study.json"));
  ASSERT_EQ(j["cells"].size(), 2u);
  EXPECT_EQ(j["cells"][0]["cell"], "lr=0.1");
  EXPECT_DOUBLE_EQ(j["cells"][0]["top1"]["mean"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(j["cells"][0]["top1"]["std"].get<double>(), 10.0);
  EXPECT_NEAR(
      j["cells"][0]["top1"]["ci95"].get<double>(),
      4.3027 * 10 / std::sqrt(3.0), 1e-9);
  EXPECT_DOUBLE_EQ(j["cells"][1]["top1"]["mean"].get<double>(), 11.0);
  EXPECT_DOUBLE_EQ(j["cells"][1]["val_top1"]["mean"].get<double>(), 12.0);
  // "few" is NaN (null) in every run: n = 0, never a NaN in the table.
  EXPECT_EQ(j["cells"][1]["few"]["n"], 0);
  auto md = ltcl::test::read_all(spec.out / "study.md");
  EXPECT_NE(md.find("| lr=0.1 | 3/3 | 10.00 ± 10.00 (±24.84) |"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("nan"), std::string::npos) << md;
  EXPECT_NE(md.find("validation-selected"), std::string::npos);
  auto csv = ltcl::test::read_all(spec.out / "study.csv");
  EXPECT_NE(csv.find("lr=0.2,top1,3,11,10,24.8"), std::string::npos) << csv;
  // ltcl compare's groups: mean +- std and the selection label.
  auto table = ltcl::train::compare_groups(
      {{"lr=0.1", {(spec.out / "lr=0.1/seed0").string(),
                   (spec.out / "lr=0.1/seed1").string()}}});
  EXPECT_NE(table.find("5.00 ± 7.07"), std::string::npos) << table;
  EXPECT_NE(table.find("validation-selected"), std::string::npos) << table;
  ltcl::test::expect_error(
      [&] { ltcl::train::compare_groups({{"x", {(dir / "none").string()}}}); },
      {"metrics.json", "none"});
}

// The done-when of the study: tiny runs, 3 seeds x 2 grid values, the
// first invocation killed with SIGKILL once two runs have finished, the
// second finishing only the missing runs.
TEST(Study, KilledStudyFinishesOnlyTheMissingRunsEndToEnd) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  ltcl::test::TinyRun tiny;
  tiny.method = "la";
  tiny.views = "[cifar_weak]";
  tiny.epochs = 1;
  tiny.steps = 12;
  ltcl::test::write_tiny_config(dir / "tiny.yaml", mnist, tiny);
  const fs::path out = dir / "study";
  const std::string cmd = ltcl::test::cli_path() + " study --config " +
      (dir / "tiny.yaml").string() + " --seeds 0,1,2 --grid optim.lr=0.05,0.1 " +
      "--out " + out.string() + " --threads 1";
  auto finished = [&] {
    int n = 0;
    for (const char* cell : {"lr=0.05", "lr=0.1"}) {
      for (int s = 0; s < 3; ++s) {
        n += fs::exists(out / cell / ("seed" + std::to_string(s)) /
                        "metrics.json");
      }
    }
    return n;
  };
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Its own process group: the kill below reaches the shell and the
    // study (and nothing else on the machine).
    ::setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", (cmd + " > /dev/null 2>&1").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (finished() < 2 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::minutes(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The shell and the study: the child's process group (set in the child;
  // set here too, so that the kill cannot come before the child's setpgid).
  ::setpgid(pid, pid);
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  const int before = finished();
  ASSERT_GE(before, 2);
  ASSERT_LT(before, 6) << "the study finished before it could be killed";
  const auto stamp = fs::last_write_time(out / "lr=0.05/seed0/metrics.json");
  std::string text;
  ASSERT_EQ(ltcl::test::run_command(cmd, &text), 0) << text;
  EXPECT_EQ(finished(), 6);
  EXPECT_NE(
      text.find(fmt::format("study: {} finished before", before)),
      std::string::npos)
      << text;
  EXPECT_EQ(fs::last_write_time(out / "lr=0.05/seed0/metrics.json"), stamp);
  auto j = nlohmann::json::parse(ltcl::test::read_all(out / "study.json"));
  ASSERT_EQ(j["cells"].size(), 2u);
  for (const auto& c : j["cells"]) {
    EXPECT_EQ(c["runs"], 3);
    EXPECT_EQ(c["top1"]["n"], 3);
    EXPECT_GT(c["top1"]["std"].get<double>(), 0.0);
  }
  EXPECT_TRUE(fs::exists(out / "study.md"));
}

}  // namespace
