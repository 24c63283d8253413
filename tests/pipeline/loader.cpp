// The loader: shapes, values, determinism across worker counts, resume,
// error propagation, the paired stream and the decode cache.
#include "ltcl/pipeline/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "ltcl/pipeline/multi_view.h"
#include "ltcl/data/cached.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::data;
using namespace ltcl::pipeline;
namespace aug = ltcl::augment;

// n random 8x8 RGB images, label i % 3; get(bad) throws.
class Memory : public Dataset {
 public:
  explicit Memory(size_t n, int64_t bad = -1) : bad_(bad) {
    ltcl::util::Rng rng{77};
    for (size_t i = 0; i < n; ++i) {
      Image im(8, 8, 3);
      for (auto& p : im.pixels) {
        p = static_cast<uint8_t>(rng.below(256));
      }
      images_.push_back(im);
    }
  }
  size_t size() const override {
    return images_.size();
  }
  Example get(size_t i) const override {
    ++gets;
    if (static_cast<int64_t>(i) == bad_) {
      ltcl::fail("Memory::get - corrupt sample");
    }
    return Example{images_.at(i), label(i)};
  }
  int64_t label(size_t i) const override {
    return static_cast<int64_t>(i % 3);
  }
  const std::vector<std::string>& class_names() const override {
    return names_;
  }
  std::string describe(size_t i) const override {
    return "mem#" + std::to_string(i);
  }
  mutable std::atomic<int> gets{0};

 private:
  int64_t bad_;
  std::vector<Image> images_;
  std::vector<std::string> names_{"a", "b", "c"};
};

std::shared_ptr<MultiViewDataset> views_of(
    DatasetPtr data, const std::vector<std::string>& names) {
  auto stats = aug::DatasetStats::known("cifar10", 8, 8, 3);
  std::vector<aug::Recipe> recipes;
  for (const auto& n : names) {
    recipes.push_back(aug::make_recipe(n, stats));
  }
  return std::make_shared<MultiViewDataset>(data, recipes);
}

std::vector<Batch> epoch_of(Loader& loader, int64_t epoch) {
  loader.set_epoch(epoch);
  std::vector<Batch> out;
  while (auto b = loader.next()) {
    out.push_back(std::move(*b));
  }
  return out;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].views.size(), b[k].views.size());
    for (size_t v = 0; v < a[k].views.size(); ++v) {
      EXPECT_TRUE(torch::equal(a[k].views[v], b[k].views[v]))
          << "batch " << k << " view " << v;
    }
    EXPECT_TRUE(torch::equal(a[k].labels, b[k].labels));
    EXPECT_TRUE(torch::equal(a[k].indices, b[k].indices));
  }
}

TEST(DataLoader, ShapesDtypesAndEvalValues) {
  auto data = std::make_shared<Memory>(37);
  auto mv = views_of(data, {"eval", "cifar_weak", "simclr"});
  auto sampler = std::make_shared<RandomSampler>(37, SamplerOptions{});
  Loader loader(mv, sampler, LoaderOptions().batch_size(5).workers(2));
  EXPECT_EQ(loader.batches_per_epoch(), 8);
  auto batches = epoch_of(loader, 0);
  ASSERT_EQ(batches.size(), 8u);
  EXPECT_EQ(batches.back().labels.size(0), 2);  // 37 = 7 * 5 + 2
  std::vector<int> seen(37, 0);
  const float mean[3] = {0.4914f, 0.4822f, 0.4465f};
  const float std[3] = {0.2023f, 0.1994f, 0.2010f};
  for (const auto& b : batches) {
    ASSERT_EQ(b.views.size(), 3u);
    for (const auto& v : b.views) {
      EXPECT_EQ(v.dtype(), torch::kFloat32);
      EXPECT_EQ(v.size(1), 3);
      EXPECT_EQ(v.size(2), 8);
      EXPECT_EQ(v.size(3), 8);
      // Normalised pixels lie in [(0 - mean) / std, (1 - mean) / std].
      EXPECT_GE(v.min().item<float>(), -0.4914f / 0.1994f - 1e-4f);
      EXPECT_LE(v.max().item<float>(), (1 - 0.4465f) / 0.1994f + 1e-4f);
    }
    EXPECT_EQ(b.labels.dtype(), torch::kInt64);
    EXPECT_EQ(b.indices.dtype(), torch::kInt64);
    for (int64_t i = 0; i < b.labels.size(0); ++i) {
      const int64_t idx = b.indices[i].item<int64_t>();
      ++seen[idx];
      EXPECT_EQ(b.labels[i].item<int64_t>(), idx % 3);
      // View 0 (eval) is the normalised image itself, CHW.
      const Image im = data->get(idx).image;
      auto view = b.views[0][i];
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < 8; y += 3) {
          for (int x = 0; x < 8; x += 3) {
            const float want = (im.at(y, x, c) / 255.0f - mean[c]) / std[c];
            EXPECT_NEAR(view[c][y][x].item<float>(), want, 1e-5);
          }
        }
      }
    }
  }
  for (int s : seen) {
    EXPECT_EQ(s, 1);  // a random epoch visits each sample once
  }
  // drop_last drops the short batch.
  Loader dropping(
      mv,
      std::make_shared<RandomSampler>(37, SamplerOptions{}),
      LoaderOptions().batch_size(5).workers(0).drop_last(true));
  EXPECT_EQ(epoch_of(dropping, 0).size(), 7u);
}

TEST(DataLoader, IdenticalForAnyWorkerCount) {
  auto data = std::make_shared<Memory>(41);
  auto mv = views_of(data, {"cifar_autoaug_cutout", "simclr", "simclr"});
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    SamplerOptions so;
    so.seed = 3;
    so.num_samples = 41;
    auto sampler =
        std::make_shared<ClassWeightedSampler>(data->labels(), 0.0, so);
    Loader loader(
        mv,
        sampler,
        LoaderOptions().batch_size(6).workers(workers).prefetch(2).seed(11));
    runs.push_back(epoch_of(loader, 2));
  }
  expect_same(runs[0], runs[1]);
  expect_same(runs[0], runs[2]);
  // Views of one sample differ from each other (independent streams).
  EXPECT_FALSE(torch::equal(runs[0][0].views[1], runs[0][0].views[2]));
  // Another epoch gives other batches.
  auto sampler = std::make_shared<ClassWeightedSampler>(
      data->labels(), 0.0, SamplerOptions{3});
  Loader loader(mv, sampler, LoaderOptions().batch_size(6).seed(11));
  auto other = epoch_of(loader, 3);
  // (View 0 is all zero on these 8x8 images: Cutout's 16-pixel square
  // covers them whole.)
  EXPECT_FALSE(torch::equal(other[0].views[1], runs[0][0].views[1]));
}

TEST(DataLoader, RecycledBuffersGiveTheSameBatches) {
  auto data = std::make_shared<Memory>(60);
  auto mv = views_of(data, {"cifar_weak", "simclr"});
  auto make = [&](int workers) {
    return std::make_unique<Loader>(
        mv,
        std::make_shared<RandomSampler>(60, SamplerOptions{2}),
        LoaderOptions().batch_size(4).workers(workers).seed(1));
  };
  auto kept = make(0);
  auto reference = epoch_of(*kept, 0);  // held: never recycled
  auto loader = make(2);
  loader->set_epoch(0);
  std::vector<Batch> copies;
  std::set<const void*> buffers;
  while (auto b = loader->next()) {
    buffers.insert(b->views[0].data_ptr());
    Batch c;
    for (const auto& v : b->views) {
      c.views.push_back(v.clone());
    }
    c.labels = b->labels.clone();
    c.indices = b->indices.clone();
    copies.push_back(std::move(c));
  }  // each batch dropped here, so its tensors can be reused
  expect_same(reference, copies);
  EXPECT_LT(buffers.size(), copies.size());  // buffers were reused
}

TEST(DataLoader, ResumesMidEpochExactly) {
  auto data = std::make_shared<Memory>(50);
  auto mv = views_of(data, {"cifar_weak", "simclr"});
  auto make = [&] {
    return std::make_unique<Loader>(
        mv,
        std::make_shared<RandomSampler>(50, SamplerOptions{8}),
        LoaderOptions().batch_size(7).workers(2).seed(5));
  };
  auto full = make();
  auto all = epoch_of(*full, 1);
  auto first = make();
  first->set_epoch(1);
  first->next();
  first->next();
  first->next();  // workers have prefetched further by now
  const SamplerState saved = first->state();
  EXPECT_EQ(saved, (SamplerState{1, 21}));
  first.reset();
  auto second = make();
  second->load_state(saved);
  std::vector<Batch> rest;
  while (auto b = second->next()) {
    rest.push_back(std::move(*b));
  }
  expect_same(std::vector<Batch>(all.begin() + 3, all.end()), rest);
  EXPECT_EQ(second->state(), (SamplerState{1, 50}));
}

TEST(DataLoader, WorkerErrorsNameTheSample) {
  auto data = std::make_shared<Memory>(30, 13);
  auto mv = views_of(data, {"cifar_weak"});
  for (int workers : {0, 2}) {
    Loader loader(
        mv,
        std::make_shared<RandomSampler>(30, SamplerOptions{}),
        LoaderOptions().batch_size(4).workers(workers));
    try {
      while (loader.next()) {
      }
      FAIL() << "expected ltcl::Error";
    } catch (const ltcl::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("mem#13"), std::string::npos) << what;
      EXPECT_NE(what.find("corrupt sample"), std::string::npos) << what;
    }
  }
}

TEST(DataLoader, DestructorStopsAnUnfinishedEpoch) {
  auto data = std::make_shared<Memory>(200);
  auto mv = views_of(data, {"simclr"});
  {
    Loader loader(
        mv,
        std::make_shared<RandomSampler>(200, SamplerOptions{}),
        LoaderOptions().batch_size(4).workers(3));
    ASSERT_TRUE(loader.next().has_value());
  }
  SUCCEED();
}

TEST(DataLoader, PairedLoaderGivesTwoBatchesPerStep) {
  auto data = std::make_shared<Memory>(40);
  auto inst = views_of(data, {"simclr", "simclr"});
  auto bal = views_of(data, {"cifar_weak"});
  auto sampler =
      std::make_shared<PairedSampler>(data->labels(), SamplerOptions{4});
  PairedLoader loader(
      inst, bal, sampler, LoaderOptions().batch_size(16).workers(1));
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  loader.set_epoch(0);
  int steps = 0;
  while (auto pair = loader.next()) {
    EXPECT_EQ(pair->first.views.size(), 2u);
    EXPECT_EQ(pair->second.views.size(), 1u);
    EXPECT_EQ(pair->first.labels.size(0), pair->second.labels.size(0));
    ++steps;
  }
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(loader.state(), (std::vector<int64_t>{0, 40, 0, 40}));
}

TEST(DataLoader, BadOptionsRejected) {
  auto data = std::make_shared<Memory>(4);
  auto mv = views_of(data, {"eval"});
  auto s = std::make_shared<RandomSampler>(4, SamplerOptions{});
  EXPECT_THROW(Loader(mv, s, LoaderOptions().batch_size(0)), ltcl::Error);
  ltcl::test::expect_error(
      [&] { Loader(mv, s, LoaderOptions().workers(-1)); },
      {"workers must be >= 0"});
}

TEST(DataLoader, WithTheDecodeCacheDecodesEachSampleOnce) {
  auto data = std::make_shared<Memory>(20);
  auto cache = std::make_shared<CachedDataset>(data);
  auto mv = views_of(cache, {"cifar_weak"});
  Loader loader(
      mv,
      std::make_shared<RandomSampler>(20, SamplerOptions{}),
      LoaderOptions().batch_size(3).workers(2));
  epoch_of(loader, 0);
  epoch_of(loader, 1);
  EXPECT_EQ(data->gets.load(), 20);
  EXPECT_EQ(cache->cached_count(), 20u);
  EXPECT_EQ(cache->get(7).image.pixels, data->get(7).image.pixels);
  EXPECT_EQ(cache->label(7), 1);
}

}  // namespace
