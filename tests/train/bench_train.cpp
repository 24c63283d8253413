// `ltcl bench train --json` on IDX files written here (no ../shared): the
// phases it reports are the step's, in order, and add up to the step time;
// the rates follow from the images per step (every view); the evaluation
// pass covers the selecting split; a bad option is an error naming it.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;

TEST(BenchTrain, PhasesAddUpAndRatesFollowFromTheImages) {
  ltcl::test::TempDir dir;
  ltcl::test::write_random_idx(dir / "idx", "train", 64);
  ltcl::test::write_random_idx(dir / "idx", "t10k", 20);
  const fs::path cfg = dir / "bcl.yaml";
  std::ofstream(cfg) << "data:\n  dataset: mnist\n  root: "
                     << (dir / "idx").string()
                     << "\n  validation: none\n  workers: 1\n"
                        "  views: [cifar_weak, simclr, simclr]\n"
                        "model:\n  arch: resnet20\n  proj_hidden: 32\n"
                        "  proj_dim: 16\n"
                        "loss:\n  method: bcl_rcl\n"
                        "optim:\n  batch_size: 16\n"
                        "schedule:\n  epochs: 2\n  warmup_epochs: 0\n"
                        "train:\n  select_on: test\n  threads: 1\n";
  std::string out;
  ASSERT_EQ(
      ltcl::test::run_command(
          // In parentheses: run_command appends 2>&1 after the command,
          // which would send a library's warning on stderr into the JSON.
          "(" + ltcl::test::cli_path() + " bench train --config " +
              cfg.string() + " --steps 3 --warmup 1 --json 2>/dev/null)",
          &out),
      0)
      << out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    FAIL() << "stdout is not one JSON document (" << e.what() << "):\n"
           << out;
  }
  const std::vector<std::string> order = {
      "loader_wait", "host_to_device", "nan_guard", "loss", "forward",
      "loss_readout", "backward", "grad_allreduce", "optimizer"};
  double sum = 0;
  for (const auto& name : order) {
    ASSERT_TRUE(j["phase_ms"].contains(name)) << name << "\n" << out;
    EXPECT_GE(j["phase_ms"][name].get<double>(), 0.0) << name;
    sum += j["phase_ms"][name].get<double>();
  }
  EXPECT_EQ(j["phase_ms"].size(), order.size()) << out;
  EXPECT_NEAR(sum, j["step_ms"].get<double>(), 1e-6 * sum);
  EXPECT_GT(j["phase_ms"]["forward"].get<double>(), 0.0);
  EXPECT_GT(j["phase_ms"]["backward"].get<double>(), 0.0);
  // 16 images x 3 views a step; 64 images: 4 full batches an epoch.
  EXPECT_EQ(j["images_per_step"].get<int64_t>(), 48);
  EXPECT_EQ(j["steps_per_epoch"].get<int64_t>(), 4);
  EXPECT_EQ(j["views"].get<int64_t>(), 3);
  EXPECT_NEAR(
      j["pipeline_images_per_s"].get<double>(),
      48.0 / (j["step_ms"].get<double>() / 1e3),
      1e-6 * j["pipeline_images_per_s"].get<double>());
  EXPECT_GT(j["model_only_images_per_s"].get<double>(), 0.0);
  EXPECT_NEAR(
      j["pipeline_over_model_only"].get<double>(),
      j["pipeline_images_per_s"].get<double>() /
          j["model_only_images_per_s"].get<double>(),
      1e-9);
  EXPECT_EQ(j["eval_split"], "test");
  EXPECT_EQ(j["eval_images"].get<int64_t>(), 20);
  EXPECT_GT(j["eval_s"].get<double>(), 0.0);

  EXPECT_NE(
      ltcl::test::run_command(
          ltcl::test::cli_path() + " bench train --config " + cfg.string() +
              " --steps 0",
          &out),
      0);
  EXPECT_NE(out.find("--steps"), std::string::npos) << out;
}

}  // namespace
