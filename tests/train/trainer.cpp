// End-to-end tests of the training loop through the `ltcl` program. On
// MNIST-LT from ../shared (skipped when absent): a tiny run writes every
// output and beats chance (float32 and bf16). On synthetic MNIST-format
// data (run everywhere): a run killed with SIGKILL mid-epoch and resumed
// ends with the same weights and metrics as the uninterrupted run; SIGTERM
// writes a checkpoint and exits 3 (stopped, resumable); a NaN loss stops the
// run naming the step and the component; a cut between best.pt and last.pt
// keeps the selection; a busy folder is refused.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/train/checkpoint.h"
#include "ltcl/util/run_lock.h"
#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;
using ltcl::test::read_all;
using ltcl::test::run_command;
using ltcl::test::train_cmd;

// A tiny CE run on MNIST-LT (IF 10): 2 epochs of 8 steps of 32 images.
fs::path tiny_config(const ltcl::test::TempDir& dir, const fs::path& mnist,
                     const std::string& extra = "") {
  fs::path p = dir / "tiny.yaml";
  std::ofstream(p) << "data:\n"
                      "  dataset: mnist\n"
                      "  root: " << mnist.string() << "\n"
                      "  imbalance_factor: 10\n"
                      "  profile: exp\n"
                      "  test_per_class: 30\n"
                      "  workers: 1\n"
                      "  views: [cifar_weak]\n"
                      "model:\n"
                      "  arch: resnet20\n"
                      "loss:\n"
                      "  method: ce\n"
                      "optim:\n"
                      "  lr: 0.05\n"
                      "  batch_size: 32\n"
                      "schedule:\n"
                      "  epochs: 2\n"
                      "  warmup_epochs: 0\n"
                      "train:\n"
                      "  threads: 1\n"
                      "  eval_every: 1\n"
                      "  max_steps_per_epoch: 8\n"
                      "  log_every: 100\n"
                   << extra;
  return p;
}

TEST(Trainer, TinyRunWritesEverythingAndBeatsChance) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "../shared/datasets/mnist not present";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist);
  std::string out;
  int rc = run_command(
      train_cmd(
          cfg,
          dir / "run",
          "--set train.max_steps_per_epoch=40 --set optim.lr=0.1"),
      &out);
  ASSERT_EQ(rc, 0) << out;
  for (const char* f :
       {"last.pt", "best.pt", "config.yaml", "metrics.jsonl", "metrics.json",
        "per_class.csv", "confusion.csv", "per_class.png", "curves.png",
        "train.log"}) {
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  }
  auto m = nlohmann::json::parse(read_all(dir / "run" / "metrics.json"));
  for (const char* k : {"top1", "mean_class", "per_class", "calibration"}) {
    EXPECT_TRUE(m.contains(k)) << k;
  }
  // A shot group is present exactly when it has classes (never null).
  for (const std::string g : {"many", "medium", "few"}) {
    EXPECT_EQ(m.contains(g), m[g + "_classes"].get<int>() > 0) << g;
  }
  EXPECT_TRUE(m["embedding"].contains("feature")) << m["embedding"].dump();
  EXPECT_EQ(m["per_class"].size(), 10u);
  EXPECT_EQ(m["samples"].get<int>(), 300);
  // 80 steps of CE on MNIST-LT: well above the 10 % of chance (45 % seen).
  EXPECT_GT(m["top1"].get<double>(), 25.0) << out;
  // One metrics line per evaluation (every epoch).
  std::istringstream lines(read_all(dir / "run" / "metrics.jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
  }
  EXPECT_EQ(n, 2);
  EXPECT_NE(out.find("overall"), std::string::npos) << out;
  // steps.jsonl: one line per optimizer step (2 epochs of 40), in order,
  // with the lr, the loss and the step's throughput.
  std::istringstream steps(read_all(dir / "run" / "steps.jsonl"));
  n = 0;
  while (std::getline(steps, line)) {
    auto j = nlohmann::json::parse(line);
    ++n;
    EXPECT_EQ(j["step"].get<int>(), n) << line;
    EXPECT_EQ(j["epoch"].get<int>(), n <= 40 ? 1 : 2) << line;
    EXPECT_GT(j["lr"].get<double>(), 0.0) << line;
    EXPECT_TRUE(j.contains("ce")) << line;
    EXPECT_GT(j["images_per_s"].get<double>(), 0.0) << line;
  }
  EXPECT_EQ(n, 80);

  // Selected on the validation set (left out by the long-tail selection).
  EXPECT_EQ(m["selected_by"], "val");
  EXPECT_NE(m["validation"].get<std::string>().find("left_out"),
            std::string::npos);
  EXPECT_EQ(m["val"]["samples"].get<int>(), 500);  // 50 per class

  // ltcl eval on the checkpoints reproduces the final metrics: last.pt the
  // final model's, the selected one (best.pt unless the last epoch won)
  // the reported ones.
  rc = run_command(ltcl::test::cli_path() + " eval --json --checkpoint " +
                       (dir / "run" / "last.pt").string(),
                   &out);
  ASSERT_EQ(rc, 0) << out;
  auto e = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_DOUBLE_EQ(e["top1"].get<double>(), m["last"]["top1"].get<double>());
  const bool last_won = m["selected_epoch"].get<int>() == 2;
  rc = run_command(ltcl::test::cli_path() + " eval --json --checkpoint " +
                       (dir / "run" / (last_won ? "last.pt" : "best.pt"))
                           .string(),
                   &out);
  ASSERT_EQ(rc, 0) << out;
  e = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_DOUBLE_EQ(e["top1"].get<double>(), m["top1"].get<double>());

  // ltcl embed: one CSV row per test sample, label + 64 features.
  rc = run_command(ltcl::test::cli_path() + " embed --checkpoint " +
                       (dir / "run" / "last.pt").string() + " --out " +
                       (dir / "emb.csv").string(),
                   &out);
  ASSERT_EQ(rc, 0) << out;
  std::istringstream csv(read_all(dir / "emb.csv"));
  std::getline(csv, line);
  EXPECT_EQ(line.rfind("label,f0,", 0), 0u);
  n = 0;
  while (std::getline(csv, line)) {
    ++n;
  }
  EXPECT_EQ(n, 300);
}

TEST(Trainer, Bf16ChannelsLastRunBeatsChance) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "../shared/datasets/mnist not present";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist, "  amp: bf16\n  channels_last: true\n");
  std::string out;
  int rc = run_command(
      train_cmd(
          cfg,
          dir / "run",
          "--set train.max_steps_per_epoch=40 --set optim.lr=0.1 "
          "--set output.plots=false"),
      &out);
  ASSERT_EQ(rc, 0) << out;
  auto m = nlohmann::json::parse(read_all(dir / "run" / "metrics.json"));
  // The float32 run of TinyRunWritesEverythingAndBeatsChance saw 45 %.
  EXPECT_GT(m["top1"].get<double>(), 25.0) << out;
  // fp16 has no CPU autocast: an error naming the key, before training.
  if (!torch::cuda::is_available()) {
    rc = run_command(
        train_cmd(
            cfg, dir / "fp16", "--set train.amp=fp16 --set train.device=auto"),
        &out);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("train.amp: 'fp16' needs a CUDA device"),
              std::string::npos)
        << out;
    EXPECT_FALSE(fs::exists(dir / "fp16" / "last.pt"));
  }
}

TEST(Trainer, KillMidEpochThenResumeEqualsUninterrupted) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  auto cfg = tiny_config(dir, mnist, "  checkpoint_every: 3\n");
  // Killed at global step 11 (epoch 1, step 3 of 8); the last checkpoint is
  // the one of step 9 (mid-epoch 1).
  auto meta = ltcl::test::expect_kill_resume_exact(dir.path(), cfg, 11);
  EXPECT_EQ(meta.global_step, 9);
  EXPECT_EQ(meta.epoch, 1);
  EXPECT_EQ(meta.step_in_epoch, 1);
}

// The same for a stage 2 (LWS on a CE stage 1: frozen backbone and
// classifier, the class-aware sampler, the learned scale): killed with
// SIGKILL mid-epoch, resumed, equal to the uninterrupted stage 2.
TEST(Trainer, KillMidStageTwoThenResumeEqualsUninterrupted) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  auto cfg = tiny_config(dir, mnist, "  checkpoint_every: 3\n");
  std::string out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "s1"), &out), 0) << out;
  const fs::path s2 = dir / "lws.yaml";
  std::ofstream(s2) << "base: tiny.yaml\n"
                       "model:\n"
                       "  init_from: " << (dir / "s1" / "last.pt").string() << "\n"
                       "  init_from_parts: backbone_classifier\n"
                       "  freeze: backbone_classifier\n"
                       "  class_scale: true\n"
                       "data:\n"
                       "  sampler: class_aware\n";
  auto meta = ltcl::test::expect_kill_resume_exact(dir.path(), s2, 11);
  EXPECT_EQ(meta.global_step, 9);
  EXPECT_EQ(meta.epoch, 1);
}

// PaCo (momentum key encoder), GPaCo and ProCo: their queue, PaCo's key
// encoder and ProCo's vMF estimates live in checkpoints, so a run killed
// mid-epoch and resumed equals the uninterrupted one, that state included
// (the comparison covers every parameter and buffer).
TEST(Trainer, KillMidEpochThenResumeEqualsUninterruptedPacoGpacoProco) {
  for (const std::string method : {"paco", "gpaco", "proco"}) {
    ltcl::test::TempDir dir;
    const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
    tiny_config(dir, mnist, "  checkpoint_every: 3\n");
    const fs::path cfg = dir / (method + ".yaml");
    std::ofstream(cfg) << "base: tiny.yaml\n"
                          "data:\n"
                          "  views: "
                       << (method == "proco" ? "[cifar_weak, simclr, simclr]"
                                             : "[cifar_weak, simclr]")
                       << "\n"
                          "model:\n"
                          "  proj_hidden: 16\n"
                          "  proj_dim: 8\n"
                          "loss:\n"
                          "  method: " << method << "\n"
                       << (method == "proco" ? "" : "  paco_queue: 48\n");
    auto meta = ltcl::test::expect_kill_resume_exact(dir.path(), cfg, 11);
    EXPECT_EQ(meta.global_step, 9) << method;
  }
}

TEST(Trainer, SigtermWritesCheckpointAndExitsStopped) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  auto cfg = tiny_config(dir, mnist);
  std::string out;
  int rc = run_command(
      "LTCL_DEBUG_TERM_AT_STEP=5 " + train_cmd(cfg, dir / "run"), &out);
  // 3: stopped, resumable (0 is finished, 1 an error).
  EXPECT_EQ(rc, 3) << out;
  EXPECT_NE(out.find("--resume"), std::string::npos) << out;
  auto meta = ltcl::train::load_checkpoint(
      (dir / "run" / "last.pt").string(), nullptr, nullptr);
  EXPECT_EQ(meta.global_step, 5);
  EXPECT_EQ(meta.epoch, 0);
  EXPECT_EQ(meta.step_in_epoch, 5);
  EXPECT_FALSE(fs::exists(dir / "run" / "metrics.json"));
}

TEST(Trainer, NanLossStopsNamingStepAndComponent) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  // An absurd learning rate blows the weights up within a few steps.
  auto cfg = tiny_config(dir, mnist, "  checkpoint_every: 1\n");
  std::string out;
  int rc = run_command(
      train_cmd(cfg, dir / "run", "--set optim.lr=1e36"), &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("loss component 'ce' is"), std::string::npos) << out;
  EXPECT_NE(out.find("at step"), std::string::npos) << out;
  // The last good checkpoint is intact and loads.
  EXPECT_NO_THROW(ltcl::train::load_checkpoint(
      (dir / "run" / "last.pt").string(), nullptr, nullptr));
}

TEST(Trainer, TheTerminalGetsOneConfigLineAndOnlyTheFilesWritten) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  auto cfg = tiny_config(dir, mnist);
  for (const bool plots : {false, true}) {
    const fs::path run = dir / (plots ? "plots" : "no_plots");
    std::string out;
    ASSERT_EQ(
        run_command(
            train_cmd(
                cfg, run,
                std::string("--set train.max_steps_per_epoch=2 "
                            "--set output.plots=") +
                    (plots ? "true" : "false")),
            &out),
        0)
        << out;
    // The whole config is in config.yaml and train.log, not on the screen.
    EXPECT_NE(out.find("config: " + (run / "config.yaml").string() +
                       " (ce, resnet20, 2 epochs)"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("  imbalance_factor: 10"), std::string::npos) << out;
    EXPECT_NE(read_all(run / "train.log").find("imbalance_factor: 10"),
              std::string::npos);
    // The last line names the plots only when they were written.
    EXPECT_EQ(out.find("plots: " + (run / "per_class.png").string()) !=
                  std::string::npos,
              plots)
        << out;
    EXPECT_EQ(fs::exists(run / "per_class.png"), plots);
  }
}

TEST(Trainer, ConfigErrorsStopBeforeAnythingRuns) {
  ltcl::test::TempDir dir;
  fs::path p = dir / "bad.yaml";
  std::ofstream(p) << "optim:\n  lr: 0.1\n  momentun: 0.9\n";
  std::string out;
  int rc = run_command(
      ltcl::test::cli_path() + " train --config " + p.string() + " --out " +
          (dir / "run").string(),
      &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("bad.yaml line 3, column 3"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'optim.momentum'"), std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(Trainer, KillBetweenBestAndLastKeepsTheSelectionConsistent) {
  // A cut right after best.pt is written, before last.pt (the moment that
  // once lost best.pt while metrics named its epoch): the resumed run ends
  // as the uninterrupted one, and the selected checkpoint is on disk.
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  auto cfg = tiny_config(dir, mnist, "  checkpoint_every: 3\n");
  std::string out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "a"), &out), 0) << out;
  int rc = run_command(
      "LTCL_DEBUG_KILL_AFTER_BEST=1 " + train_cmd(cfg, dir / "b"), &out);
  ASSERT_NE(rc, 0) << "the debug hook did not kill the run: " << out;
  ASSERT_TRUE(fs::exists(dir / "b" / "best.pt"));
  // last.pt is still the mid-epoch one of step 6: it names no best epoch.
  auto last = ltcl::train::load_checkpoint(
      (dir / "b" / "last.pt").string(), nullptr, nullptr);
  EXPECT_EQ(last.global_step, 6);
  EXPECT_EQ(last.best_epoch, -1);
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "b", "--resume"), &out), 0)
      << out;
  auto ma = nlohmann::json::parse(read_all(dir / "a" / "metrics.json"));
  auto mb = nlohmann::json::parse(read_all(dir / "b" / "metrics.json"));
  EXPECT_EQ(mb["selected_epoch"], ma["selected_epoch"]);
  EXPECT_DOUBLE_EQ(mb["top1"].get<double>(), ma["top1"].get<double>());
  auto best = ltcl::train::load_checkpoint(
      (dir / "b" / "best.pt").string(), nullptr, nullptr);
  auto final_last = ltcl::train::load_checkpoint(
      (dir / "b" / "last.pt").string(), nullptr, nullptr);
  EXPECT_EQ(final_last.best_epoch, best.best_epoch);
  EXPECT_EQ(best.best_epoch, mb["selected_epoch"].get<int64_t>());
}

TEST(Trainer, SecondRunOnABusyFolderFailsAndTouchesNothing) {
  ltcl::test::TempDir dir;
  const fs::path mnist = ltcl::test::synthetic_mnist(dir.path());
  auto cfg = tiny_config(dir, mnist);
  // Another run holds the folder (here: this process, as a run would).
  ltcl::util::FolderLock held((dir / "run").string());
  std::ofstream(dir / "run" / "last.pt") << "the other run's checkpoint";
  std::string out;
  int rc = run_command(train_cmd(cfg, dir / "run"), &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("is in use by another ltcl run (pid " +
                     std::to_string(::getpid()) + ")"),
            std::string::npos)
      << out;
  EXPECT_EQ(read_all(dir / "run" / "last.pt"), "the other run's checkpoint");
  EXPECT_FALSE(fs::exists(dir / "run" / "config.yaml"));
}

}  // namespace
