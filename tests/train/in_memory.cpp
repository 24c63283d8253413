// The Trainer in-process on a small synthetic in-memory dataset (no files,
// no ../shared): every method learns the task above chance, a run stopped
// mid-epoch and resumed ends bit-identical to an uninterrupted one, and the
// checkpoint alone (no training data) evaluates to the trainer's numbers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "ltcl/data/dataset.h"
#include "ltcl/eval/evaluate.h"
#include "ltcl/models/network.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/train/trainer.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;

constexpr int kSide = 16;

// Class k: a bright horizontal band in rows [4k, 4k + 4) on noise.
ltcl::data::DatasetPtr stripes(const std::vector<int>& per_class, int seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  std::vector<ltcl::data::Image> images;
  std::vector<int64_t> labels;
  for (size_t k = 0; k < per_class.size(); ++k) {
    for (int i = 0; i < per_class[k]; ++i) {
      ltcl::data::Image im(kSide, kSide, 1);
      for (int r = 0; r < kSide; ++r) {
        for (int c = 0; c < kSide; ++c) {
          const bool band = r >= 4 * static_cast<int>(k) &&
              r < 4 * static_cast<int>(k) + 4;
          im.pixels[r * kSide + c] =
              static_cast<uint8_t>((band ? 190 : 0) + noise(rng));
        }
      }
      images.push_back(std::move(im));
      labels.push_back(static_cast<int64_t>(k));
    }
  }
  return std::make_shared<ltcl::data::InMemoryDataset>(
      std::move(images), std::move(labels),
      std::vector<std::string>{"top", "middle", "bottom"});
}

ltcl::train::DataSplits data() {
  return {stripes({48, 16, 8}, 1), stripes({12, 12, 12}, 2)};
}

ltcl::train::Config tiny_config(
    const std::string& method,
    const fs::path& out,
    int epochs) {
  auto c = ltcl::train::default_config(method);
  c.data.dataset = "folder";  // normalisation 0.5 / 0.5
  const int64_t views = ltcl::train::method_info(method).traits.views;
  // Weak views only: the test is of the trainer, and SimCLR crops of a
  // 16x16 stripe often cut the stripe away.
  c.data.views.assign(static_cast<size_t>(views), "cifar_weak");
  c.data.workers = 0;
  c.model.arch = "resnet20";
  c.model.proj_hidden = 16;
  c.model.proj_dim = 8;
  if (method == "ldam_drw") {
    c.model.classifier = "cosine";
    c.model.cosine_scale = 1.0;
    c.loss.drw_epoch = 1;
  }
  c.optim.lr = 0.05;
  c.optim.batch_size = 12;
  c.schedule.epochs = epochs;
  c.schedule.warmup_epochs = 1;
  c.train.threads = 1;
  c.train.eval_every = 1;
  c.output.dir = out.string();
  c.output.plots = false;
  return c;
}

void expect_same_weights(
    const ltcl::models::NetworkImpl& a,
    const ltcl::models::NetworkImpl& b) {
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

class InMemoryTrainer : public ltcl::test::SeededTest,
                        public ::testing::WithParamInterface<std::string> {};

// Stopped by SIGTERM after global step 7 (mid-epoch 2: 6 steps an epoch,
// 5 for the drop_last methods), resumed from last.pt, against one
// uninterrupted run: same weights, buffers (ResCom's queue too) and history.
TEST_P(InMemoryTrainer, StopAndResumeIsBitIdentical) {
  const std::string method = GetParam();
  ltcl::test::TempDir dir;
  auto straight_cfg = tiny_config(method, dir / "straight", 3);
  ltcl::train::Trainer straight(straight_cfg, data());
  auto a = straight.run(false);
  ASSERT_FALSE(a.stopped);
  EXPECT_EQ(a.epochs_done, 3);

  auto cut_cfg = tiny_config(method, dir / "cut", 3);
  ::setenv("LTCL_DEBUG_TERM_AT_STEP", "7", 1);
  ltcl::train::TrainResult b;
  {
    ltcl::train::Trainer first(cut_cfg, data());
    b = first.run(false);
  }
  ::unsetenv("LTCL_DEBUG_TERM_AT_STEP");
  ASSERT_TRUE(b.stopped) << method;
  EXPECT_EQ(b.global_step, 7);
  ltcl::train::Trainer second(cut_cfg, data());
  auto c = second.run(true);
  EXPECT_FALSE(c.stopped);
  EXPECT_EQ(c.global_step, a.global_step);
  expect_same_weights(*straight.model(), *second.model());
  EXPECT_DOUBLE_EQ(c.report.top1, a.report.top1) << method;
  // The learning curves: equal loss means in every epoch.
  auto la = ltcl::train::load_saved_model(
      (dir / "straight" / "last.pt").string(), "cpu");
  auto lb = ltcl::train::load_saved_model(
      (dir / "cut" / "last.pt").string(), "cpu");
  expect_same_weights(*la.model, *lb.model);
}

// Above chance (33 %) on the test set after 10 epochs; the checkpoint alone
// (class counts, names and normalisation inside) gives the same report.
TEST_P(InMemoryTrainer, LearnsAndEvaluatesFromTheCheckpointAlone) {
  const std::string method = GetParam();
  ltcl::test::TempDir dir;
  auto cfg = tiny_config(method, dir / "run", 10);
  cfg.optim.lr = 0.1;
  auto splits = data();
  ltcl::train::Trainer trainer(cfg, splits);
  auto r = trainer.run(false);
  EXPECT_GT(r.report.top1, 50.0) << method;
  auto m = ltcl::train::load_saved_model(
      (dir / "run" / "last.pt").string(), "cpu");
  EXPECT_EQ(m.info.class_counts, (std::vector<int64_t>{48, 16, 8}));
  EXPECT_EQ(m.info.class_names[2], "bottom");
  EXPECT_EQ(m.info.stats.height, kSide);
  auto again = ltcl::eval::evaluate_model(
      *m.model, *splits.test, m.eval_recipe(), 64, m.info.class_counts);
  EXPECT_DOUBLE_EQ(again.top1, r.report.top1) << method;
  EXPECT_DOUBLE_EQ(again.few, r.report.few) << method;
}

INSTANTIATE_TEST_SUITE_P(
    EveryMethod,
    InMemoryTrainer,
    ::testing::ValuesIn(ltcl::train::method_names()),
    [](const auto& info) { return info.param; });

TEST(InMemoryTrainerErrors, MissingSplitAndUnknownMethod) {
  ltcl::test::TempDir dir;
  auto cfg = tiny_config("ce", dir / "x", 1);
  EXPECT_THROW(
      {
        ltcl::train::Trainer t(
            cfg, ltcl::train::DataSplits{data().train, nullptr});
      },
      ltcl::Error);
  cfg.loss.method = "no_such_method";
  // The error names the method and lists the registered ones.
  ltcl::test::expect_error(
      [&] { ltcl::train::Trainer t(cfg, data()); },
      {"no_such_method", "bcl_rcl", "hybrid_psc"});
}

}  // namespace
