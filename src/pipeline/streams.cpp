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
