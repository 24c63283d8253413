#pragma once
// Shared by the end-to-end training tests (tests/train/*.cpp): reading run
// outputs, the tiny MNIST-LT config, the `ltcl train` command line, and the
// kill / resume exactness check built on the trainer's
// LTCL_DEBUG_KILL_AT_STEP hook.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <random>
#include <string>

#include "ltcl/data/dataset.h"
#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/train/trainer.h"
#include "support.h"

namespace ltcl::test {

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A tiny training run on MNIST-LT (IF 10) from ../shared: ResNet-20 with a
// 64-32 projection head, batch 32, lr 0.1, `epochs` epochs of at most
// `steps` steps (lr warm-up over the first `warmup` epochs), 30 test images per
// class, one evaluation after the last epoch, 1 thread (ctest runs two tests
// at once), no plots. The *_extra strings are YAML lines (two-space indent)
// added under model:, loss: and train:.
struct TinyRun {
  std::string method;
  std::string views;  // data.views, e.g. "[cifar_weak]"
  int epochs = 2;
  int steps = 40;
  int warmup = 0;
  std::string model_extra;
  std::string loss_extra;
  std::string train_extra;
};

inline void write_tiny_config(
    const std::filesystem::path& path,
    const std::filesystem::path& mnist,
    const TinyRun& r) {
  std::ofstream(path) << "data:\n"
                         "  dataset: mnist\n"
                         "  root: "
                      << mnist.string()
                      << "\n"
                         "  imbalance_factor: 10\n"
                         "  profile: exp\n"
                         "  test_per_class: 30\n"
                         "  workers: 1\n"
                         "  views: "
                      << r.views
                      << "\n"
                         "model:\n"
                         "  arch: resnet20\n"
                         "  proj_hidden: 64\n"
                         "  proj_dim: 32\n"
                      << r.model_extra
                      << "loss:\n"
                         "  method: "
                      << r.method << "\n"
                      << r.loss_extra
                      << "optim:\n"
                         "  lr: 0.1\n"
                         "  batch_size: 32\n"
                         "schedule:\n"
                         "  epochs: "
                      << r.epochs
                      << "\n"
                         "  warmup_epochs: "
                      << r.warmup
                      << "\n"
                         "train:\n"
                         "  threads: 1\n"
                         "  eval_every: "
                      << r.epochs
                      << "\n"
                         "  max_steps_per_epoch: "
                      << r.steps
                      << "\n"
                         "  log_every: 100\n"
                      << r.train_extra
                      << "output:\n"
                         "  plots: false\n";
}

inline std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) {
    s[k] = static_cast<char>((v >> (24 - 8 * k)) & 0xFF);
  }
  return s;
}

// `n` random 28x28 images of MNIST's 10 classes (image i of class i % 10: a
// class-dependent bright square over noise) as MNIST's uncompressed IDX
// files `prefix`-images-idx3-ubyte / -labels-idx1-ubyte (no ../shared).
inline void write_random_idx(
    const std::filesystem::path& dir,
    const std::string& prefix,
    uint32_t n) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::mt19937 rng(n);
  std::string img = be32(0x803) + be32(n) + be32(28) + be32(28);
  std::string lab = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) {
    const int y = static_cast<int>(i % 10);
    for (int r = 0; r < 28; ++r) {
      for (int c = 0; c < 28; ++c) {
        const bool on = r / 7 == y / 4 && c / 7 == y % 4;
        img.push_back(static_cast<char>((on ? 150 : 0) + rng() % 100));
      }
    }
    lab.push_back(static_cast<char>(y));
  }
  std::ofstream(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary)
      << img;
  std::ofstream(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary)
      << lab;
}

// A folder "mnist" under `dir` with MNIST's four IDX files of random images
// (write_random_idx: 6000 training, 300 test images): a stand-in for
// ../shared/datasets/mnist where a test is about the training loop, not
// accuracy, so that it runs without ../shared. Returns the folder.
inline std::filesystem::path synthetic_mnist(const std::filesystem::path& dir) {
  write_random_idx(dir / "mnist", "train", 6000);
  write_random_idx(dir / "mnist", "t10k", 300);
  return dir / "mnist";
}

constexpr int kStripeSide = 16;

// An in-memory 3-class set of 16x16 gray images (no files, no ../shared):
// class k is a bright horizontal band in rows [4k, 4k + 4) on noise;
// `per_class[k]` images of class k.
inline data::DatasetPtr stripes(const std::vector<int>& per_class, int seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  std::vector<data::Image> images;
  std::vector<int64_t> labels;
  for (size_t k = 0; k < per_class.size(); ++k) {
    for (int i = 0; i < per_class[k]; ++i) {
      data::Image im(kStripeSide, kStripeSide, 1);
      for (int r = 0; r < kStripeSide; ++r) {
        for (int c = 0; c < kStripeSide; ++c) {
          const bool band = r >= 4 * static_cast<int>(k) &&
              r < 4 * static_cast<int>(k) + 4;
          im.pixels[r * kStripeSide + c] =
              static_cast<uint8_t>((band ? 190 : 0) + noise(rng));
        }
      }
      images.push_back(std::move(im));
      labels.push_back(static_cast<int64_t>(k));
    }
  }
  return std::make_shared<data::InMemoryDataset>(
      std::move(images), std::move(labels),
      std::vector<std::string>{"top", "middle", "bottom"});
}

// The in-process trainer tests' data: 48 / 16 / 8 stripes to train on, 12
// of each class to test on.
inline train::DataSplits stripes_splits() {
  return {stripes({48, 16, 8}, 1), stripes({12, 12, 12}, 2)};
}

// Their config: `method` on stripes_splits() (weak views only, as many as
// the method takes: SimCLR crops of a 16x16 stripe often cut it away),
// ResNet-20 with a 16-8 projection head, batch 12 (6 steps an epoch), lr
// 0.05, `warmup` warm-up epochs, an evaluation every epoch, 1 thread, no
// workers, no plots, output in `out`.
inline train::Config stripes_config(
    const std::string& method,
    const std::filesystem::path& out,
    int epochs,
    int warmup) {
  auto c = train::default_config(method);
  c.data.dataset = "folder";  // normalisation 0.5 / 0.5
  const int64_t views = train::method_info(method).traits.views;
  c.data.views.assign(static_cast<size_t>(views), "cifar_weak");
  c.data.workers = 0;
  c.model.arch = "resnet20";
  c.model.proj_hidden = 16;
  c.model.proj_dim = 8;
  c.optim.lr = 0.05;
  c.optim.batch_size = 12;
  c.schedule.epochs = epochs;
  c.schedule.warmup_epochs = warmup;
  c.train.threads = 1;
  c.train.eval_every = 1;
  c.output.dir = out.string();
  c.output.plots = false;
  return c;
}

// Every parameter and buffer of `a` equal to `b`'s, bit for bit.
inline void expect_same_weights(
    const models::NetworkImpl& a,
    const models::NetworkImpl& b) {
  auto pa = a.named_parameters();
  auto pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& kv : pa) {
    EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  }
  auto ba = a.named_buffers();
  auto bb = b.named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (const auto& kv : ba) {
    EXPECT_TRUE(torch::equal(kv.value(), bb[kv.key()])) << kv.key();
  }
}

inline std::string train_cmd(
    const std::filesystem::path& cfg,
    const std::filesystem::path& out,
    const std::string& more = "") {
  return cli_path() + " train --config " + cfg.string() + " --out " +
         out.string() + " " + more;
}

// Trains `cfg` uninterrupted into dir/a and, into dir/b, a run that kills
// itself with SIGKILL after global step `kill_at` and is then resumed with
// --resume. Expects the two runs to end with identical tensors (every
// parameter and buffer of the model as rebuilt from the saved config, so
// method state registered on the model, e.g. ResCom's queue, is compared
// too) and identical final metrics. Returns the killed run's checkpoint
// (dir/b/last.pt before the resume) for the caller's own checks.
inline train::Checkpoint expect_kill_resume_exact(
    const std::filesystem::path& dir,
    const std::filesystem::path& cfg,
    int64_t kill_at) {
  namespace fs = std::filesystem;
  std::string out;
  train::Checkpoint killed;
  if (run_command(train_cmd(cfg, dir / "a"), &out) != 0) {
    ADD_FAILURE() << "uninterrupted run failed:\n" << out;
    return killed;
  }
  int rc = run_command(
      "LTCL_DEBUG_KILL_AT_STEP=" + std::to_string(kill_at) + " " +
          train_cmd(cfg, dir / "b"),
      &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_FALSE(fs::exists(dir / "b" / "metrics.json"));
  killed = train::load_checkpoint(
      (dir / "b" / "last.pt").string(), nullptr, nullptr);
  if (run_command(train_cmd(cfg, dir / "b", "--resume"), &out) != 0) {
    ADD_FAILURE() << "resumed run failed:\n" << out;
    return killed;
  }
  auto ma =
      train::load_saved_model((dir / "a" / "last.pt").string(), "cpu");
  auto mb =
      train::load_saved_model((dir / "b" / "last.pt").string(), "cpu");
  auto pb = mb.model->named_parameters();
  EXPECT_EQ(ma.model->named_parameters().size(), pb.size());
  for (const auto& kv : ma.model->named_parameters()) {
    EXPECT_TRUE(pb.contains(kv.key()) && torch::equal(kv.value(), pb[kv.key()]))
        << kv.key();
  }
  auto bb = mb.model->named_buffers();
  EXPECT_EQ(ma.model->named_buffers().size(), bb.size());
  for (const auto& kv : ma.model->named_buffers()) {
    EXPECT_TRUE(bb.contains(kv.key()) && torch::equal(kv.value(), bb[kv.key()]))
        << kv.key();
  }
  auto ja = nlohmann::json::parse(read_all(dir / "a" / "metrics.json"));
  auto jb = nlohmann::json::parse(read_all(dir / "b" / "metrics.json"));
  EXPECT_EQ(ja["per_class"], jb["per_class"]);
  EXPECT_EQ(ja["top1"], jb["top1"]);
  return killed;
}

}  // namespace ltcl::test
