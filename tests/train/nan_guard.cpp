// The NaN guard's remedy, end to end through the `ltcl` program on
// synthetic MNIST-format data (no ../shared): a run that diverges keeps, as
// last.pt, the state before the update that diverged, and `--resume` with a
// sane optim.lr continues from it exactly -- to the same weights and metrics
// as a run that used the sane learning rate from that point on.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/train/checkpoint.h"
#include "ltcl/train/saved_model.h"
#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;
using ltcl::test::read_all;
using ltcl::test::run_command;
using ltcl::test::train_cmd;

// CE on 200 random 28x28 images (10 classes), batch 16, `epochs` epochs of
// `steps` steps, lr 0.05 with momentum, an evaluation every epoch on 50
// test images, last.pt after every step.
fs::path write_config(
    const ltcl::test::TempDir& dir,
    int epochs,
    int steps) {
  ltcl::test::write_random_idx(dir / "idx", "train", 200);
  ltcl::test::write_random_idx(dir / "idx", "t10k", 50);
  fs::path p = dir / "run.yaml";
  std::ofstream(p) << "data:\n"
                      "  dataset: mnist\n"
                      "  root: "
                   << (dir / "idx").string()
                   << "\n"
                      "  validation: none\n"
                      "  workers: 1\n"
                      "  views: [cifar_weak]\n"
                      "model:\n"
                      "  arch: resnet20\n"
                      "loss:\n"
                      "  method: ce\n"
                      "optim:\n"
                      "  lr: 0.05\n"
                      "  batch_size: 16\n"
                      "schedule:\n"
                      "  epochs: "
                   << epochs
                   << "\n"
                      "  warmup_epochs: 0\n"
                      "train:\n"
                      "  select_on: last\n"
                      "  threads: 1\n"
                      "  eval_every: 1\n"
                      "  checkpoint_every: 1\n"
                      "  max_steps_per_epoch: "
                   << steps
                   << "\n"
                      "  log_every: 100\n"
                      "output:\n"
                      "  plots: false\n";
  return p;
}

// Every parameter and buffer of two checkpoints' models is equal.
void expect_same_model(const fs::path& a, const fs::path& b) {
  auto ma = ltcl::train::load_saved_model(a.string(), "cpu").model;
  auto mb = ltcl::train::load_saved_model(b.string(), "cpu").model;
  auto pb = mb->named_parameters();
  for (const auto& kv : ma->named_parameters()) {
    EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  }
  auto bb = mb->named_buffers();
  for (const auto& kv : ma->named_buffers()) {
    EXPECT_TRUE(torch::equal(kv.value(), bb[kv.key()])) << kv.key();
  }
}

bool all_finite(const fs::path& checkpoint) {
  auto m = ltcl::train::load_saved_model(checkpoint.string(), "cpu").model;
  for (const auto& t : m->parameters()) {
    if (!torch::isfinite(t).all().item<bool>()) {
      return false;
    }
  }
  return true;
}

// lr 1e30: the first update blows the weights up to ~1e28 (finite; last.pt
// is written after it), the second step's loss is NaN. last.pt must then be
// the initial state, and --resume at lr 0.05 equal a run at 0.05 from the
// start.
TEST(NanGuard, DivergenceAtTheFirstUpdateKeepsTheInitialState) {
  ltcl::test::TempDir dir;
  auto cfg = write_config(dir, 2, 3);
  std::string out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "a"), &out), 0) << out;
  int rc = run_command(
      train_cmd(cfg, dir / "b", "--set optim.lr=1e30"), &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("loss component 'ce' is nan at step 1 (epoch 0)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("the state after 0 step(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("--resume --set optim.lr=<below 1e+30>"),
            std::string::npos)
      << out;
  const fs::path last = dir / "b" / "last.pt";
  auto meta = ltcl::train::load_checkpoint(last.string(), nullptr, nullptr);
  EXPECT_EQ(meta.global_step, 0);
  EXPECT_EQ(meta.epoch, 0);
  EXPECT_EQ(meta.step_in_epoch, 0);
  EXPECT_TRUE(all_finite(last));
  rc = run_command(
      train_cmd(cfg, dir / "b", "--resume --set optim.lr=0.05"), &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(all_finite(last));
  expect_same_model(dir / "a" / "last.pt", last);
  auto ja = nlohmann::json::parse(read_all(dir / "a" / "metrics.json"));
  auto jb = nlohmann::json::parse(read_all(dir / "b" / "metrics.json"));
  EXPECT_EQ(ja["per_class"], jb["per_class"]);
}

// A divergence after more than an epoch of sane training (stopped at step
// 5, resumed at lr 1e30): last.pt is the state after step 5 -- momentum,
// sampler position, random state and history included -- and resuming it at
// the original lr ends exactly where the uninterrupted run does.
TEST(NanGuard, LaterDivergenceKeepsTheStateBeforeItsUpdate) {
  ltcl::test::TempDir dir;
  auto cfg = write_config(dir, 3, 4);
  std::string out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "a"), &out), 0) << out;
  ASSERT_EQ(
      run_command(
          "LTCL_DEBUG_TERM_AT_STEP=5 " + train_cmd(cfg, dir / "b"), &out),
      3)
      << out;
  int rc = run_command(
      train_cmd(cfg, dir / "b", "--resume --set optim.lr=1e30"), &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("at step 6 (epoch 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("the state after 5 step(s) (1 of epoch 2)"),
            std::string::npos)
      << out;
  const fs::path last = dir / "b" / "last.pt";
  auto meta = ltcl::train::load_checkpoint(last.string(), nullptr, nullptr);
  EXPECT_EQ(meta.global_step, 5);
  EXPECT_EQ(meta.epoch, 1);
  EXPECT_EQ(meta.step_in_epoch, 1);
  EXPECT_EQ(nlohmann::json::parse(meta.history_json).size(), 1u);
  EXPECT_TRUE(all_finite(last));
  rc = run_command(train_cmd(cfg, dir / "b", "--resume"), &out);
  ASSERT_EQ(rc, 0) << out;
  expect_same_model(dir / "a" / "last.pt", last);
  auto ja = nlohmann::json::parse(read_all(dir / "a" / "metrics.json"));
  auto jb = nlohmann::json::parse(read_all(dir / "b" / "metrics.json"));
  EXPECT_EQ(ja["per_class"], jb["per_class"]);
  EXPECT_EQ(ja["top1"], jb["top1"]);
}

// One step per epoch: the update that diverges is the epoch's last, and the
// evaluation after it sees the non-finite logits first. The same fallback.
TEST(NanGuard, DivergenceSeenByTheEvaluationKeepsTheStateBeforeIt) {
  ltcl::test::TempDir dir;
  auto cfg = write_config(dir, 2, 1);
  std::string out;
  int rc = run_command(
      train_cmd(cfg, dir / "b", "--set optim.lr=1e30"), &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("non-finite logit"), std::string::npos) << out;
  EXPECT_NE(out.find("the state after 0 step(s)"), std::string::npos) << out;
  const fs::path last = dir / "b" / "last.pt";
  auto meta = ltcl::train::load_checkpoint(last.string(), nullptr, nullptr);
  EXPECT_EQ(meta.global_step, 0);
  EXPECT_TRUE(all_finite(last));
  rc = run_command(
      train_cmd(cfg, dir / "b", "--resume --set optim.lr=0.05"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(all_finite(last));
}

}  // namespace
