// Data-parallel training through the real `ltcl train` program on MNIST-LT
// from ../shared (skipped when absent), CPU, loopback Gloo:
// - 2 processes (SyncBN on) splitting the global batch end with the same
//   per-epoch losses and the same weights and BN buffers as 1 process with
//   the whole batch (bcl_rcl, so the all-gather of the contrastive features
//   and the gradient average are both exercised);
// - the same for ResCom (rescom): the contrastive term over the global batch
//   and the class-balanced queue filled from every rank, so after k steps the
//   queue saved by rank 0 equals the 1-process queue;
// - a run stopped by SIGTERM on one rank of 2 and resumed with 1 process ends
//   where the uninterrupted 1-process run ends (sampler state is global);
// - a rank killed with SIGKILL ends `--nproc 2` with an error naming it,
//   within the configured timeout, not a hang;
// - a global batch not divisible by the world size is an error naming
//   optim.batch_size.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/train/trainer.h"
#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;
using ltcl::test::read_all;
using ltcl::test::run_command;
using ltcl::test::train_cmd;

// `method` (bcl_rcl or rescom) on MNIST-LT (IF 10), 2 epochs of 2 steps of
// a global batch of 16.
fs::path tiny_config(
    const ltcl::test::TempDir& dir,
    const fs::path& mnist,
    const std::string& method = "bcl_rcl") {
  const bool rescom = method == "rescom";
  const bool paco = method == "paco" || method == "gpaco";
  const bool single_view = method == "la" || method == "ce";
  fs::path p = dir / (method + ".yaml");
  std::ofstream(p) << "data:\n"
                      "  dataset: mnist\n"
                      "  root: "
                   << mnist.string()
                   << "\n"
                      "  imbalance_factor: 10\n"
                      "  profile: exp\n"
                      "  test_per_class: 5\n"
                      "  workers: 1\n"
                      // The subset the tolerances below were measured on
                      // (a validation split would move 50 images out).
                      "  validation: none\n"
                      "  views: "
                   << (rescom        ? "[cifar_weak, cifar_weak]"
                       : paco        ? "[cifar_weak, simclr]"
                       : single_view ? "[cifar_weak]"
                                     : "[cifar_weak, simclr, simclr]")
                   << "\n"
                      "model:\n"
                      "  arch: resnet20\n"
                   << (single_view ? "" : "  proj_hidden: 32\n  proj_dim: 16\n")
                   << "loss:\n"
                      "  method: "
                   << method << "\n"
                   << (rescom ? "  rescom_queue_size: 4\n"
                                "  rescom_k_pos: 2\n"
                                "  rescom_k_neg: 20\n"
                              : "")
                   << (paco ? "  paco_queue: 24\n" : "")
                   << "optim:\n"
                      "  lr: 0.05\n"
                      "  batch_size: 16\n"
                      "schedule:\n"
                      "  epochs: 2\n"
                      "  warmup_epochs: 0\n"
                      "train:\n"
                      "  select_on: last\n"
                      // NCHW: oneDNN's channels-last convolutions round a
                      // half batch differently from the whole one (the
                      // 2-vs-1 losses drifted 2e-4 relative in one epoch),
                      // beyond these wiring checks' float32 tolerances.
                      "  channels_last: false\n"
                      "  threads: 1\n"
                      "  eval_every: 2\n"
                      "  max_steps_per_epoch: 2\n"
                      "  log_every: 100\n"
                      "dist:\n"
                      "  timeout_s: 20\n"
                      "output:\n"
                      "  plots: false\n";
  return p;
}

// Every parameter (within tol) and buffer (but `skip_buffer`, within
// buffer_tol) of two checkpoints agree (absolute, relative to the tensor's
// scale).
void expect_same_weights(
    const fs::path& a,
    const fs::path& b,
    double tol,
    double buffer_tol,
    const std::string& skip_buffer = "") {
  auto ma = ltcl::train::load_saved_model(a.string(), "cpu").model;
  auto mb = ltcl::train::load_saved_model(b.string(), "cpu").model;
  auto pa = ma->named_parameters();
  auto pb = mb->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& kv : pa) {
    const auto& other = pb[kv.key()];
    double scale = std::max(1.0, kv.value().abs().max().item<double>());
    double diff = (kv.value() - other).abs().max().item<double>();
    EXPECT_LT(diff, tol * scale) << "parameter " << kv.key();
  }
  auto ba = ma->named_buffers();
  auto bb = mb->named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (const auto& kv : ba) {
    if (kv.key() == skip_buffer) {
      continue;
    }
    auto x = kv.value().to(torch::kDouble);
    auto y = bb[kv.key()].to(torch::kDouble);
    double scale = std::max(1.0, x.abs().max().item<double>());
    EXPECT_LT((x - y).abs().max().item<double>(), buffer_tol * scale)
        << "buffer " << kv.key();
  }
}

// Trains `cfg` with 1 process into dir/one and with 2 into dir/two; the
// 2-process run must really be distributed, with SyncBN.
void train_one_and_two(const ltcl::test::TempDir& dir, const fs::path& cfg) {
  std::string out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "one", "--nproc 1"), &out), 0)
      << out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "two", "--nproc 2"), &out), 0)
      << out;
  const std::string log = read_all(dir / "two" / "train.log");
  EXPECT_NE(log.find("data parallel: 2 ranks"), std::string::npos) << log;
  EXPECT_NE(log.find("sync_bn true"), std::string::npos) << log;
}

// Per-epoch loss means from a checkpoint's history.
std::vector<std::map<std::string, double>> losses_of(const fs::path& ckpt) {
  auto meta = ltcl::train::load_checkpoint(ckpt.string(), nullptr, nullptr);
  std::vector<std::map<std::string, double>> out;
  for (const auto& e : nlohmann::json::parse(meta.history_json)) {
    out.push_back(e["losses"].get<std::map<std::string, double>>());
  }
  return out;
}

// The per-epoch loss means of dir/one and dir/two (2 epochs each) agree for
// `keys`. Epoch 1 (steps 1-2, one update in) agrees to 1e-4; float rounding
// (SyncBN reduces in float64, BatchNorm in float32; other summation orders,
// other kernels for the half batch) then grows through the updates (RCL's
// feature scale is large): 4e-4 relative seen in epoch 2 on the first dev
// box, 2.8e-3 on the 2026-12-01 one (the same numbers before and after the
// method-room refactor). Without SyncBN the epoch-2 losses differ by 6e-2
// (contrastive) and 2e-1 (LA-CE); a missing gather or a wrong gradient
// scale by 1e-2 or more.
void expect_epoch_losses_match(const ltcl::test::TempDir& dir,
                               std::initializer_list<const char*> keys,
                               const std::string& what = "") {
  auto l1 = losses_of(dir / "one" / "last.pt");
  auto l2 = losses_of(dir / "two" / "last.pt");
  ASSERT_EQ(l1.size(), 2u);
  ASSERT_EQ(l2.size(), 2u);
  for (size_t e = 0; e < l1.size(); ++e) {
    for (const char* k : keys) {
      ASSERT_TRUE(l1[e].count(k) && l2[e].count(k)) << what << " " << k;
      const double tol = e == 0 ? 1e-4 : 1e-2;
      EXPECT_NEAR(l1[e][k], l2[e][k], tol * std::max(1.0, l1[e][k]))
          << what << " epoch " << e << " " << k;
    }
  }
}

TEST(DistributedTrainer, TwoProcessesMatchOneProcessWithTheWholeBatch) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist);
  ASSERT_NO_FATAL_FAILURE(train_one_and_two(dir, cfg));

  ASSERT_NO_FATAL_FAILURE(
      expect_epoch_losses_match(dir, {"la_ce", "contrastive", "total"}));
  // After 4 SGD steps at lr 0.05 the largest difference seen was 1.3e-3 of
  // a tensor's scale on the first dev box; on the 2026-12-01 box 5.3e-3
  // (parameters) and 3.2e-2 (BN running variances), float rounding grown
  // through the updates as above. Without SyncBN: 0.28 and 2.5.
  expect_same_weights(
      dir / "one" / "last.pt", dir / "two" / "last.pt", 2e-2, 1e-1);
  // Only rank 0 wrote the reports.
  EXPECT_TRUE(fs::exists(dir / "two" / "metrics.json"));
}

TEST(DistributedTrainer, ClassificationMethodsSyncBatchNormByDefault) {
  // LA (the CE family) with no dist key: SyncBN is on, so 2 processes of
  // half the batch take the steps 1 process takes. Without it (as before
  // 2026-12-01) the per-rank BatchNorm statistics of 8 images each move the
  // step-1 gradients by ~23 %.
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist, "la");
  ASSERT_NO_FATAL_FAILURE(train_one_and_two(dir, cfg));
  auto l1 = losses_of(dir / "one" / "last.pt");
  auto l2 = losses_of(dir / "two" / "last.pt");
  ASSERT_EQ(l1.size(), 2u);
  ASSERT_EQ(l2.size(), 2u);
  for (size_t e = 0; e < l1.size(); ++e) {
    ASSERT_TRUE(l1[e].count("la") && l2[e].count("la"));
    EXPECT_NEAR(l1[e]["la"], l2[e]["la"], (e == 0 ? 1e-4 : 1e-2) * l1[e]["la"])
        << "epoch " << e;
  }
  expect_same_weights(
      dir / "one" / "last.pt", dir / "two" / "last.pt", 2e-2, 1e-1);
}

TEST(DistributedTrainer, ResComTwoProcessesMatchOneProcessQueueIncluded) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist, "rescom");
  // 4 steps (2 x 2): steps 2-4 mine against a queue filled by both ranks.
  ASSERT_NO_FATAL_FAILURE(train_one_and_two(dir, cfg));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(
      expect_epoch_losses_match(dir, {"bs_ce", "contrastive", "total"}));
  // Weights and BN buffers as in the bcl_rcl test; the queue's counts and
  // write positions exactly (a queue filled by one rank only holds half the
  // keys). Its keys are embeddings of the last steps: the float rounding of
  // the weights, amplified through the projection BN over 16 samples, moved
  // them by up to 0.0195 (unit vectors) after 3 updates; checked tightly
  // after one step below.
  expect_same_weights(
      dir / "one" / "last.pt",
      dir / "two" / "last.pt",
      5e-3,
      5e-3,
      "rescom_queue.keys");
  auto queue = [&](const char* run) {
    return ltcl::train::load_saved_model((dir / run / "last.pt").string(), "cpu")
        .model->named_buffers();
  };
  auto q1 = queue("one");
  auto q2 = queue("two");
  ASSERT_TRUE(q1.contains("rescom_queue.count"));
  EXPECT_TRUE(torch::equal(q1["rescom_queue.count"], q2["rescom_queue.count"]))
      << q1["rescom_queue.count"] << q2["rescom_queue.count"];
  EXPECT_TRUE(torch::equal(q1["rescom_queue.ptr"], q2["rescom_queue.ptr"]));
  EXPECT_GT(q1["rescom_queue.count"].sum().item<int64_t>(), 16);
  EXPECT_LT(
      (q1["rescom_queue.keys"] - q2["rescom_queue.keys"])
          .abs()
          .max()
          .item<double>(),
      0.05);

  // One step: the queue holds the first views of the global batch, the same
  // keys in the same slots (rank-major gather order would swap slots: diffs
  // of order 1). Seen: 2e-6.
  const std::string one_step =
      " --set schedule.epochs=1 --set train.max_steps_per_epoch=1";
  ASSERT_EQ(
      run_command(train_cmd(cfg, dir / "one1", "--nproc 1" + one_step), &out),
      0)
      << out;
  ASSERT_EQ(
      run_command(train_cmd(cfg, dir / "two1", "--nproc 2" + one_step), &out),
      0)
      << out;
  auto k1 = queue("one1");
  auto k2 = queue("two1");
  EXPECT_EQ(k1["rescom_queue.count"].sum().item<int64_t>(), 16);
  EXPECT_TRUE(torch::equal(k1["rescom_queue.count"], k2["rescom_queue.count"]));
  EXPECT_LT(
      (k1["rescom_queue.keys"] - k2["rescom_queue.keys"])
          .abs()
          .max()
          .item<double>(),
      1e-5);
}

// ProCo with 2 processes against 1 at the same global batch: each rank's
// vMF estimator takes the gathered global batch per view, so every rank's
// estimates equal the one process's (checked with the weights: buffers).
TEST(DistributedTrainer, ProcoTwoProcessesMatchOneProcess) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist, "proco");
  ASSERT_NO_FATAL_FAILURE(train_one_and_two(dir, cfg));
  ASSERT_NO_FATAL_FAILURE(
      expect_epoch_losses_match(dir, {"la_ce", "proco", "total"}));
  // After 4 steps the weights differ by float rounding amplified through
  // kappa (seen 2026-12-07: 7e-3 relative in head.fc1, 0.03 in the vMF
  // means, the bcl_rcl test's 5e-3 bound exceeded); after one step they
  // agree to rounding (seen: 2.3e-5, BCL+RCL's 1.2e-5), weights, BN buffers
  // and the estimates alike; the estimates' amounts (sample counts) exactly.
  const std::string one_step =
      " --set schedule.epochs=1 --set train.max_steps_per_epoch=1";
  std::string out;
  ASSERT_EQ(
      run_command(train_cmd(cfg, dir / "one1", "--nproc 1" + one_step), &out), 0)
      << out;
  ASSERT_EQ(
      run_command(train_cmd(cfg, dir / "two1", "--nproc 2" + one_step), &out), 0)
      << out;
  expect_same_weights(dir / "one1" / "last.pt", dir / "two1" / "last.pt", 1e-4, 1e-3);
  auto b1 = ltcl::train::load_saved_model((dir / "one" / "last.pt").string(), "cpu")
                .model->named_buffers();
  auto b2 = ltcl::train::load_saved_model((dir / "two" / "last.pt").string(), "cpu")
                .model->named_buffers();
  ASSERT_TRUE(b1.contains("proco_vmf.cur_amount"));
  EXPECT_TRUE(torch::equal(b1["proco_vmf.cur_amount"], b2["proco_vmf.cur_amount"]));
  EXPECT_TRUE(torch::equal(b1["proco_vmf.old_amount"], b2["proco_vmf.old_amount"]));
  EXPECT_GT(b1["proco_vmf.cur_amount"].sum().item<double>(), 0);
}

// PaCo (momentum key encoder) and GPaCo with 2 processes against 1 at the
// same global batch: each rank's anchors are its own images, the contrast
// set the gathered global batch and the queue, which every rank fills with
// the global batch in sampler order. 4 steps of 16 into a queue of 24: the
// queue wraps, and steps 2-4 read keys both ranks wrote.
TEST(DistributedTrainer, PacoAndGpacoTwoProcessesMatchOneProcess) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  for (const std::string method : {"paco", "gpaco"}) {
    ltcl::test::TempDir dir;
    auto cfg = tiny_config(dir, mnist, method);
    ASSERT_NO_FATAL_FAILURE(train_one_and_two(dir, cfg));
    ASSERT_NO_FATAL_FAILURE(expect_epoch_losses_match(dir, {"paco"}, method));
    // Weights (PaCo's key encoder among them) and BN buffers as in the
    // bcl_rcl test; the queue's labels and write position exactly.
    expect_same_weights(
        dir / "one" / "last.pt", dir / "two" / "last.pt", 5e-3, 5e-3,
        "paco_queue.keys");
    auto q1 = ltcl::train::load_saved_model((dir / "one" / "last.pt").string(), "cpu")
                  .model->named_buffers();
    auto q2 = ltcl::train::load_saved_model((dir / "two" / "last.pt").string(), "cpu")
                  .model->named_buffers();
    ASSERT_TRUE(q1.contains("paco_queue.labels")) << method;
    EXPECT_TRUE(torch::equal(q1["paco_queue.labels"], q2["paco_queue.labels"]))
        << method;
    EXPECT_EQ(q1["paco_queue.position"].item<int64_t>(), (4 * 16) % 24);
    EXPECT_TRUE(torch::equal(q1["paco_queue.position"], q2["paco_queue.position"]));
    EXPECT_LT(
        (q1["paco_queue.keys"] - q2["paco_queue.keys"]).abs().max().item<double>(),
        0.05)
        << method;
  }
}

TEST(DistributedTrainer, StopOnOneRankThenResumeWithOneProcess) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist);
  std::string out;
  ASSERT_EQ(run_command(train_cmd(cfg, dir / "ref", "--nproc 1"), &out), 0)
      << out;
  // SIGTERM on rank 1 only after global step 3 (mid epoch 2): the stop flag
  // is agreed on by all ranks, rank 0 writes last.pt, every rank exits 3
  // (stopped, resumable) and so does the launcher.
  ASSERT_EQ(
      run_command(
          "LTCL_DEBUG_TERM_AT_STEP=3 LTCL_DEBUG_KILL_RANK=1 " +
              train_cmd(cfg, dir / "cut", "--nproc 2"),
          &out),
      3)
      << out;
  auto meta = ltcl::train::load_checkpoint(
      (dir / "cut" / "last.pt").string(), nullptr, nullptr);
  EXPECT_EQ(meta.epoch, 1);
  EXPECT_EQ(meta.step_in_epoch, 1);
  // Global sampler position: 1 step of the global batch 16.
  ASSERT_GE(meta.samplers["train"].size(), 2u);
  EXPECT_EQ(meta.samplers["train"][1], 16);
  ASSERT_EQ(
      run_command(train_cmd(cfg, dir / "cut", "--nproc 1 --resume"), &out), 0)
      << out;
  expect_same_weights(
      dir / "ref" / "last.pt", dir / "cut" / "last.pt", 2e-2, 1e-1);
}

TEST(DistributedTrainer, KilledRankEndsTheJobWithAnError) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist);
  std::string out;
  auto t0 = std::chrono::steady_clock::now();
  int rc = run_command(
      "LTCL_DEBUG_KILL_AT_STEP=3 LTCL_DEBUG_KILL_RANK=1 " +
          train_cmd(cfg, dir / "run", "--nproc 2"),
      &out);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("rank 1"), std::string::npos) << out;
  EXPECT_NE(out.find("signal 9"), std::string::npos) << out;
  // dist.timeout_s is 20; the launcher's grace periods add at most 15 s.
  EXPECT_LT(secs, 60.0) << out;
  // The checkpoint of the completed epoch 1 survives.
  EXPECT_TRUE(fs::exists(dir / "run" / "last.pt"));
}

TEST(DistributedTrainer, BatchNotDivisibleByWorldNamesTheKey) {
  fs::path mnist = ltcl::test::shared_dataset("mnist");
  if (mnist.empty()) {
    GTEST_SKIP() << "no MNIST under ../shared";
  }
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(dir, mnist);
  std::string out;
  EXPECT_NE(
      run_command(
          train_cmd(cfg, dir / "run", "--nproc 2 --set optim.batch_size=15"),
          &out),
      0);
  EXPECT_NE(out.find("optim.batch_size"), std::string::npos) << out;
  EXPECT_NE(out.find("world size 2"), std::string::npos) << out;
}

}  // namespace
