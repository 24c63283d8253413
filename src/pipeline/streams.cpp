#include "ltcl/pipeline/streams.h"

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

std::unique_ptr<BatchStream> make_single_stream(
    std::shared_ptr<const MultiViewDataset> views,
    data::SamplerPtr sampler,
    LoaderOptions options) {
  return std::make_unique<SingleStream>(
      std::move(views), std::move(sampler), options);
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
