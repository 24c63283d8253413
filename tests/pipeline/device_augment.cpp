// The batched (device) recipes against the CPU recipes they stand for, on
// CPU tensors (the same code runs on a GPU): with equally keyed generators
// the draws are the same and the pixels equal (cifar_weak) or within the
// CPU's uint8 rounding (simclr); with independent generators the per-image
// statistics agree; the device stream hands out the loader's batches and
// state. No ../shared.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <random>
#include <tuple>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/dataset.h"
#include "ltcl/data/sampler.h"
#include "ltcl/pipeline/device_augment.h"
#include "ltcl/pipeline/multi_view.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::augment::DatasetStats;
using ltcl::data::Image;
using ltcl::pipeline::DrawKey;

// Smooth random images (blobs of colour: the jitter and resize see real
// gradients and flat areas, not just noise).
std::vector<Image> images(int n, int side, int channels, int seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Image> out;
  for (int i = 0; i < n; ++i) {
    Image im(side, side, channels);
    double a[3], fx[3], fy[3];
    for (int c = 0; c < 3; ++c) {
      a[c] = u(rng);
      fx[c] = 0.1 + 0.5 * u(rng);
      fy[c] = 0.1 + 0.5 * u(rng);
    }
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        for (int c = 0; c < channels; ++c) {
          const double v = 127.5 + 120 * std::sin(fx[c] * x + a[c] * 6) *
                  std::cos(fy[c] * y) + 8 * (u(rng) - 0.5);
          im.pixels[(y * side + x) * channels + c] = static_cast<uint8_t>(
              std::clamp(std::lround(v), 0L, 255L));
        }
      }
    }
    out.push_back(std::move(im));
  }
  return out;
}

at::Tensor as_batch(const std::vector<Image>& ims) {
  const auto& f = ims.front();
  auto t = torch::empty(
      {static_cast<int64_t>(ims.size()), f.channels, f.height, f.width},
      torch::kByte);
  for (size_t i = 0; i < ims.size(); ++i) {
    t[static_cast<int64_t>(i)].copy_(
        torch::from_blob(
            const_cast<uint8_t*>(ims[i].data()),
            {f.height, f.width, f.channels},
            torch::kByte)
            .permute({2, 0, 1}));
  }
  return t;
}

DrawKey key_of(int64_t i) {
  DrawKey k;
  k.seed = 7;
  k.epoch = 2;
  k.position = 100 + i;
  k.index = i;
  return k;
}

struct Both {
  at::Tensor cpu;     // the CPU recipe's views
  at::Tensor device;  // the batched recipe's
  int64_t flips = 0, jitters = 0, grays = 0;
};

// Each image through the CPU recipe and through the batched one, view
// `view` of draw key_of(i); also checks both consumed the same draws.
Both run_both(
    const std::string& name,
    const DatasetStats& stats,
    const std::vector<Image>& ims,
    size_t view) {
  const auto cpu = ltcl::augment::make_recipe(name, stats);
  const auto dev = ltcl::pipeline::make_device_recipe(name, stats);
  const int64_t n = static_cast<int64_t>(ims.size());
  Both out;
  out.cpu = torch::empty({n, cpu.channels, cpu.height, cpu.width});
  std::vector<ltcl::pipeline::ViewDraw> draws;
  for (int64_t i = 0; i < n; ++i) {
    Image im = ims[static_cast<size_t>(i)];
    auto r1 = ltcl::pipeline::view_rng(key_of(i), view);
    cpu.augment(im, r1);
    cpu.normalize.to_chw(im, out.cpu[i].data_ptr<float>());
    auto r2 = ltcl::pipeline::view_rng(key_of(i), view);
    draws.push_back(ltcl::pipeline::draw_view(dev, r2));
    EXPECT_EQ(r1(), r2()) << name << " image " << i
                          << ": the two paths drew different amounts";
    out.flips += draws.back().flip;
    out.jitters += draws.back().jitter;
    out.grays += draws.back().gray;
  }
  out.device = ltcl::pipeline::apply_device_recipe(dev, as_batch(ims), draws);
  return out;
}

class DeviceAugment : public ltcl::test::SeededTest {};

TEST_F(DeviceAugment, CropFlipEqualsTheCpuRecipeBitForBit) {
  for (int channels : {3, 1}) {
    const auto stats =
        DatasetStats::known(channels == 3 ? "cifar10" : "fashion_mnist",
                            channels == 3 ? 32 : 28, channels == 3 ? 32 : 28,
                            channels);
    const auto ims = images(96, stats.height, channels, channels);
    const Both b = run_both("cifar_weak", stats, ims, 0);
    ASSERT_EQ(b.device.sizes(), b.cpu.sizes());
    EXPECT_TRUE(torch::equal(b.device, b.cpu)) << channels << " channels";
    EXPECT_GT(b.flips, 20);  // both branches seen
    EXPECT_LT(b.flips, 76);
  }
}

TEST_F(DeviceAugment, SimclrMatchesTheCpuRecipeUpToItsRounding) {
  for (int channels : {3, 1}) {
    const int side = channels == 3 ? 32 : 28;
    const auto stats = DatasetStats::known(
        channels == 3 ? "cifar10" : "fashion_mnist", side, side, channels);
    const auto ims = images(400, side, channels, 10 + channels);
    const Both b = run_both("simclr", stats, ims, 1);
    ASSERT_EQ(b.device.sizes(), b.cpu.sizes());
    // Back to 0-255 units to state the tolerance in gray levels.
    const auto std = torch::tensor(stats.std).view({1, -1, 1, 1});
    const auto diff = ((b.device - b.cpu) * std * 255).abs();
    const double mean = diff.mean().item<double>();
    const double p999 =
        std::get<0>(diff.flatten().sort()).index({static_cast<int64_t>(
                                                      diff.numel() * 0.999)})
            .item<double>();
    const double worst = diff.max().item<double>();
    std::cout << "simclr, " << channels << " channels: |device - cpu| mean "
              << mean << ", 99.9% " << p999 << ", max " << worst
              << " gray levels\n";
    EXPECT_LT(mean, 0.6);
    EXPECT_LT(p999, 3.0);
    EXPECT_LT(worst, 12.0);
    // Every sample equal in the large: each image's mean and spread.
    const auto dm = (b.device - b.cpu).mean({1, 2, 3}).abs().max();
    EXPECT_LT((dm * std.mean() * 255).item<double>(), 1.5);
    // Both branches of the random colour ops were compared.
    EXPECT_GT(b.jitters, 200);
    EXPECT_LT(b.jitters, 390);
    EXPECT_GT(b.grays, 30);
    EXPECT_LT(b.grays, 130);
  }
}

TEST_F(DeviceAugment, IndependentDrawsHaveTheCpuRecipesStatistics) {
  // One image, 3000 views each way from disjoint generators: the per-view
  // mean and standard deviation (what crops and colour change) have the
  // same distribution (means within 4 standard errors, spreads within 10 %).
  const auto stats = DatasetStats::known("cifar10", 32, 32, 3);
  const auto one = images(1, 32, 3, 5);
  const std::vector<Image> ims(3000, one.front());
  for (const char* name : {"cifar_weak", "simclr"}) {
    const auto cpu = ltcl::augment::make_recipe(name, stats);
    const auto dev = ltcl::pipeline::make_device_recipe(name, stats);
    auto c = torch::empty({3000, 3, 32, 32});
    std::vector<ltcl::pipeline::ViewDraw> draws;
    for (int64_t i = 0; i < 3000; ++i) {
      Image im = ims[static_cast<size_t>(i)];
      ltcl::util::Rng r1{1, static_cast<uint64_t>(i)};
      cpu.augment(im, r1);
      cpu.normalize.to_chw(im, c[i].data_ptr<float>());
      ltcl::util::Rng r2{2, static_cast<uint64_t>(i)};
      draws.push_back(ltcl::pipeline::draw_view(dev, r2));
    }
    const auto d = ltcl::pipeline::apply_device_recipe(dev, as_batch(ims), draws);
    const std::vector<std::tuple<const char*, at::Tensor, at::Tensor>> per_view = {
        {"mean", c.mean({1, 2, 3}), d.mean({1, 2, 3})},
        {"std", c.flatten(1).std(1), d.flatten(1).std(1)}};
    for (const auto& [what, fc, fd] : per_view) {
      const double mc = fc.mean().item<double>();
      const double md = fd.mean().item<double>();
      const double se = std::sqrt(
          (fc.var().item<double>() + fd.var().item<double>()) / 3000);
      EXPECT_LT(std::abs(mc - md), 4 * se) << name << " " << what;
      EXPECT_NEAR(fd.std().item<double>() / fc.std().item<double>(), 1.0, 0.1)
          << name << " " << what;
    }
  }
}

TEST_F(DeviceAugment, UnsupportedRecipesAndSizesAreNamedErrors) {
  const auto stats = DatasetStats::known("cifar10", 32, 32, 3);
  EXPECT_FALSE(ltcl::pipeline::has_device_recipe("cifar_autoaug_cutout"));
  try {
    ltcl::pipeline::make_device_recipe("cifar_autoaug_cutout", stats);
    ADD_FAILURE();
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'cifar_autoaug_cutout' has no batched form"),
              std::string::npos)
        << e.what();
  }
  auto resized = stats;
  resized.image_size = 24;
  EXPECT_THROW(ltcl::pipeline::make_device_recipe("cifar_weak", resized),
               ltcl::Error);
  const auto dev = ltcl::pipeline::make_device_recipe("cifar_weak", stats);
  EXPECT_THROW(
      ltcl::pipeline::apply_device_recipe(
          dev, torch::zeros({2, 3, 28, 28}, torch::kByte), {{}, {}}),
      ltcl::Error);
}

TEST_F(DeviceAugment, DeviceStreamHandsOutTheLoadersBatchesAndState) {
  const auto stats = DatasetStats::known("cifar10", 32, 32, 3);
  auto ims = images(50, 32, 3, 3);
  std::vector<int64_t> labels;
  for (int i = 0; i < 50; ++i) {
    labels.push_back(i % 5);
  }
  auto data = std::make_shared<ltcl::data::InMemoryDataset>(
      ims, labels, std::vector<std::string>{"a", "b", "c", "d", "e"});
  auto views = std::make_shared<ltcl::pipeline::MultiViewDataset>(
      data, std::vector<ltcl::augment::Recipe>{
                ltcl::augment::make_recipe("cifar_weak", stats),
                ltcl::augment::make_recipe("simclr", stats)});
  auto options =
      ltcl::pipeline::LoaderOptions().batch_size(16).workers(0).seed(3);
  auto sampler = [] {
    return std::make_shared<ltcl::data::RandomSampler>(
        50, ltcl::data::SamplerOptions{9});
  };
  auto cpu = ltcl::pipeline::make_single_stream(views, sampler(), options);
  auto dev = ltcl::pipeline::make_device_stream(
      views, sampler(), options, stats, torch::kCPU);
  for (int64_t epoch : {0, 1}) {
    cpu->set_epoch(epoch);
    dev->set_epoch(epoch);
    EXPECT_EQ(dev->batches_per_epoch(), cpu->batches_per_epoch());
    int steps = 0;
    while (auto a = cpu->next()) {
      auto b = dev->next();
      ASSERT_TRUE(b.has_value()) << "epoch " << epoch << " step " << steps;
      EXPECT_TRUE(torch::equal(a->main.indices, b->main.indices));
      EXPECT_TRUE(torch::equal(a->main.labels, b->main.labels));
      EXPECT_TRUE(torch::equal(a->main.views[0], b->main.views[0]));
      EXPECT_LT((a->main.views[1] - b->main.views[1]).abs().mean().item<double>(),
                0.02);
      EXPECT_EQ(dev->state(), cpu->state());
      ++steps;
    }
    EXPECT_FALSE(dev->next().has_value());
    EXPECT_EQ(steps, 4);  // 16 + 16 + 16 + 2
  }
  // Resumed mid-epoch at the loader's state: the same next batch.
  cpu->set_epoch(3);
  cpu->next();
  const auto state = cpu->state();
  auto want = cpu->next();
  auto again = ltcl::pipeline::make_device_stream(
      views, sampler(), options, stats, torch::kCPU);
  again->set_epoch(3);
  again->load_state(state);
  auto got = again->next();
  ASSERT_TRUE(got && want);
  EXPECT_TRUE(torch::equal(got->main.indices, want->main.indices));
  EXPECT_TRUE(torch::equal(got->main.views[0], want->main.views[0]));
}

}  // namespace
