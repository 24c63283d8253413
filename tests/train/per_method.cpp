// A tiny training run per one-stream method on MNIST-LT (IF 10) from
// ../shared must clearly beat chance (10 %). Each run: 2 epochs of 40 steps,
// batch 32, ResNet-20, 30 test images per class, 1 thread (ctest runs two
// tests at once); about 5 s a one-view and 10 s a three-view run on the dev
// box. ResCom and Hybrid-SC / PSC have their own runs in methods.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;

class PerMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(PerMethod, TinyRunBeatsChance) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "../shared/datasets/mnist not present";
  }
  const std::string method = GetParam();
  ltcl::test::TempDir dir;
  const int64_t views = ltcl::train::method_info(method).traits.views;
  ltcl::test::TinyRun r;
  r.method = method;
  r.views = views == 1   ? "[cifar_weak]"
            : views == 2 ? "[cifar_weak, simclr]"
                         : "[cifar_weak, simclr, simclr]";
  if (method == "paco" || method == "gpaco") {
    // The queue of the CIFAR recipes (1024) is 32 steps of this batch.
    r.loss_extra = "  paco_queue: 64\n  paco_tau: 0.1\n";
  }
  if (method == "ldam_drw") {
    r.model_extra = "  classifier: cosine\n  cosine_scale: 1.0\n";
    r.loss_extra = "  drw_epoch: 1\n";
  }
  // Three-view methods warm up over the first epoch, as their recipes do:
  // without it lr 0.1 at batch 32 left bcl and rcl at chance (10.00 %) and
  // supcon_la at 14.33 % (seen 2026-11-23); with it 53-66 %.
  r.warmup = views == 1 ? 0 : 1;
  fs::path cfg = dir / "tiny.yaml";
  ltcl::test::write_tiny_config(cfg, mnist, r);
  std::string out;
  ASSERT_EQ(
      ltcl::test::run_command(ltcl::test::train_cmd(cfg, dir / "run"), &out), 0)
      << out;
  auto m =
      nlohmann::json::parse(ltcl::test::read_all(dir / "run" / "metrics.json"));
  EXPECT_GT(m["top1"].get<double>(), 25.0) << method << "\n" << out;
}

INSTANTIATE_TEST_SUITE_P(
    Methods,
    PerMethod,
    ::testing::Values(
        "ce",
        "la",
        "bs",
        "ldam_drw",
        "focal",
        "supcon_la",
        "bcl",
        "bcl_rcl",
        "rcl",
        "proco",
        "paco",
        "gpaco"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      return info.param;
    });

}  // namespace
