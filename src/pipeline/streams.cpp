#include "ltcl/pipeline/streams.h"

#include <torch/torch.h>

#include "ltcl/pipeline/device_augment.h"

#include "ltcl/util/error.h"

namespace ltcl::pipeline {
namespace {

const std::vector<int64_t>& find_stream(
    const StreamState& state,
    const std::string& name) {
  auto it = state.find(name);
  if (it == state.end() || it->second.size() != 2) {
    fail("BatchStream::load_state - no '{}' sampler state", name);
  }
  return it->second;
}

class SingleStream : public BatchStream {
 public:
  SingleStream(
      std::shared_ptr<const MultiViewDataset> views,
      data::SamplerPtr sampler,
      LoaderOptions options)
      : loader_(std::move(views), std::move(sampler), options) {}

  void set_epoch(int64_t epoch) override {
    loader_.set_epoch(epoch);
  }
  int64_t batches_per_epoch() const override {
    return loader_.batches_per_epoch();
  }
  std::optional<StepBatch> next() override {
    auto b = loader_.next();
    if (!b) {
      return std::nullopt;
    }
    return StepBatch{std::move(*b), std::nullopt};
  }
  StreamState state() const override {
    return {{"train", loader_.state().to_vector()}};
  }
  void load_state(const StreamState& state) override {
    loader_.load_state(
        data::SamplerState::from_vector(find_stream(state, "train")));
  }
  int64_t images(const StepBatch& batch) const override {
    return batch.main.labels.size(0) *
        static_cast<int64_t>(batch.main.views.size());
  }

 private:
  Loader loader_;
};

class InstanceAndBalancedStream : public BatchStream {
 public:
  InstanceAndBalancedStream(
      const data::DatasetPtr& train,
      const std::vector<augment::Recipe>& recipes,
      const data::SamplerOptions& so,
      LoaderOptions options)
      : loader_(
            std::make_shared<MultiViewDataset>(
                train,
                std::vector<augment::Recipe>(
                    recipes.begin() + 1, recipes.end())),
            std::make_shared<MultiViewDataset>(
                train, std::vector<augment::Recipe>{recipes.at(0)}),
            std::make_shared<data::PairedSampler>(train->labels(), so),
            options.drop_last(true)) {}

  void set_epoch(int64_t epoch) override {
    loader_.set_epoch(epoch);
  }
  int64_t batches_per_epoch() const override {
    return loader_.batches_per_epoch();
  }
  std::optional<StepBatch> next() override {
    auto p = loader_.next();
    if (!p) {
      return std::nullopt;
    }
    return StepBatch{std::move(p->first), std::move(p->second)};
  }
  StreamState state() const override {
    auto v = loader_.state();
    return {{"train", {v[0], v[1]}}, {"balanced", {v[2], v[3]}}};
  }
  void load_state(const StreamState& state) override {
    std::vector<int64_t> v = find_stream(state, "train");
    const auto& b = find_stream(state, "balanced");
    v.insert(v.end(), b.begin(), b.end());
    loader_.load_state(v);
  }
  int64_t images(const StepBatch& batch) const override {
    int64_t n = batch.main.labels.size(0) *
        static_cast<int64_t>(batch.main.views.size());
    if (batch.balanced) {
      n += batch.balanced->labels.size(0) *
          static_cast<int64_t>(batch.balanced->views.size());
    }
    return n;
  }

 private:
  PairedLoader loader_;
};

}  // namespace

namespace {

// The images on the device, augmented there (device_augment.h).
class DeviceStream : public BatchStream {
 public:
  DeviceStream(
      std::shared_ptr<const MultiViewDataset> views,
      data::SamplerPtr sampler,
      LoaderOptions options,
      const augment::DatasetStats& stats,
      c10::Device device)
      : views_(std::move(views)),
        sampler_(std::move(sampler)),
        options_(options),
        device_(device) {
    for (size_t v = 0; v < views_->num_views(); ++v) {
      recipes_.push_back(make_device_recipe(views_->view(v).name, stats));
    }
    const DeviceRecipe& r = recipes_.front();
    const data::Dataset& base = views_->base();
    const int64_t n = static_cast<int64_t>(base.size());
    const int64_t c = r.channels;
    const int64_t s = r.size;
    constexpr int64_t kMaxBytes = int64_t(16) << 30;
    if (n * c * s * s > kMaxBytes) {
      fail(
          "device augmentation - {} images of {}x{}x{} need {} bytes on the "
          "device, more than the limit of {}; use the CPU loader",
          n, c, s, s, n * c * s * s, kMaxBytes);
    }
    // Decoded once, CHW; a gray image for RGB recipes is replicated, as
    // MultiViewDataset does.
    at::Tensor host = torch::empty({n, c, s, s}, torch::kByte);
    std::vector<int64_t> labels(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      data::Example e = base.get(static_cast<size_t>(i));
      const auto& im = e.image;
      if (im.height != s || im.width != s ||
          !(im.channels == c || (im.channels == 1 && c == 3))) {
        fail(
            "device augmentation - {} is {}x{}x{}; the recipes need {}x{}x{} "
            "(use the CPU loader for images of other sizes)",
            base.describe(static_cast<size_t>(i)), im.height, im.width,
            im.channels, s, s, c);
      }
      at::Tensor hwc = torch::from_blob(
          const_cast<uint8_t*>(im.data()), {s, s, im.channels}, torch::kByte);
      host[i].copy_(hwc.permute({2, 0, 1}).expand({c, s, s}));
      labels[static_cast<size_t>(i)] = e.label;
    }
    images_ = host.to(device_);
    labels_ = std::move(labels);
  }

  void set_epoch(int64_t epoch) override {
    sampler_->set_epoch(epoch);
  }
  int64_t batches_per_epoch() const override {
    const int64_t n = sampler_->size();
    const int64_t b = options_.batch_size();
    return options_.drop_last() ? n / b : (n + b - 1) / b;
  }
  std::optional<StepBatch> next() override {
    const int64_t b = options_.batch_size();
    const int64_t first = sampler_->state().position;
    const int64_t left = sampler_->size() - first;
    if (left <= 0 || (options_.drop_last() && left < b)) {
      return std::nullopt;
    }
    const std::vector<int64_t> indices = sampler_->next(static_cast<size_t>(b));
    const auto n = static_cast<int64_t>(indices.size());
    Batch batch;
    batch.indices = torch::tensor(indices, torch::kLong);
    std::vector<int64_t> labels(static_cast<size_t>(n));
    DrawKey key;
    key.seed = options_.seed();
    key.stream = options_.stream();
    key.epoch = sampler_->epoch();
    std::vector<std::vector<ViewDraw>> draws(recipes_.size());
    for (int64_t i = 0; i < n; ++i) {
      key.index = indices[static_cast<size_t>(i)];
      key.position = sampler_->global_position(first + i);
      labels[static_cast<size_t>(i)] = labels_[static_cast<size_t>(key.index)];
      for (size_t v = 0; v < recipes_.size(); ++v) {
        util::Rng rng = view_rng(key, v);
        draws[v].push_back(draw_view(recipes_[v], rng));
      }
    }
    batch.labels = torch::tensor(labels, torch::kLong);
    const at::Tensor picked = images_.index_select(0, batch.indices.to(device_));
    for (size_t v = 0; v < recipes_.size(); ++v) {
      batch.views.push_back(apply_device_recipe(recipes_[v], picked, draws[v]));
    }
    return StepBatch{std::move(batch), std::nullopt};
  }
  StreamState state() const override {
    return {{"train", sampler_->state().to_vector()}};
  }
  void load_state(const StreamState& state) override {
    sampler_->load_state(
        data::SamplerState::from_vector(find_stream(state, "train")));
  }
  int64_t images(const StepBatch& batch) const override {
    return batch.main.labels.size(0) *
        static_cast<int64_t>(batch.main.views.size());
  }

 private:
  std::shared_ptr<const MultiViewDataset> views_;
  data::SamplerPtr sampler_;
  LoaderOptions options_;
  c10::Device device_;
  std::vector<DeviceRecipe> recipes_;
  at::Tensor images_;  // uint8 [N, C, S, S] on device_
  std::vector<int64_t> labels_;
};

}  // namespace

std::unique_ptr<BatchStream> make_single_stream(
    std::shared_ptr<const MultiViewDataset> views,
    data::SamplerPtr sampler,
    LoaderOptions options) {
  return std::make_unique<SingleStream>(
      std::move(views), std::move(sampler), options);
}

std::unique_ptr<BatchStream> make_device_stream(
    std::shared_ptr<const MultiViewDataset> views,
    data::SamplerPtr sampler,
    LoaderOptions options,
    const augment::DatasetStats& stats,
    c10::Device device) {
  return std::make_unique<DeviceStream>(
      std::move(views), std::move(sampler), options, stats, device);
}

namespace {

Batch rows_of(const Batch& b, int64_t k, int64_t parts) {
  const int64_t n = b.labels.size(0);
  if (n % parts != 0) {
    fail(
        "split_step - a batch of {} images does not split into {} equal "
        "micro-batches",
        n,
        parts);
  }
  auto take = [&](const torch::Tensor& t) {
    return t.slice(0, k, n, parts).contiguous();
  };
  Batch out;
  for (const auto& v : b.views) {
    out.views.push_back(take(v));
  }
  out.labels = take(b.labels);
  if (b.indices.defined()) {
    out.indices = take(b.indices);
  }
  return out;
}

}  // namespace

std::vector<StepBatch> split_step(const StepBatch& step, int64_t parts) {
  if (parts < 1) {
    fail("split_step - parts must be >= 1: {{got {}}}", parts);
  }
  std::vector<StepBatch> out;
  out.reserve(static_cast<size_t>(parts));
  for (int64_t k = 0; k < parts; ++k) {
    StepBatch m;
    m.main = rows_of(step.main, k, parts);
    if (step.balanced) {
      m.balanced = rows_of(*step.balanced, k, parts);
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::unique_ptr<BatchStream> make_instance_and_balanced_stream(
    const data::DatasetPtr& train,
    const std::vector<augment::Recipe>& recipes,
    const data::SamplerOptions& sampler,
    LoaderOptions options) {
  if (recipes.size() < 2) {
    fail(
        "make_instance_and_balanced_stream - needs at least 2 recipes "
        "(view 0 for the class-balanced stream), got {}",
        recipes.size());
  }
  return std::make_unique<InstanceAndBalancedStream>(
      train, recipes, sampler, options);
}

}  // namespace ltcl::pipeline
