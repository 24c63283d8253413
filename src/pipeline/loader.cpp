#include "ltcl/pipeline/loader.h"

#include <torch/cuda.h>

#include "ltcl/util/error.h"

namespace ltcl::pipeline {

Loader::Loader(
    std::shared_ptr<const MultiViewDataset> data,
    data::SamplerPtr sampler,
    LoaderOptions options)
    : data_(std::move(data)), sampler_(std::move(sampler)), options_(options) {
  if (!data_) {
    fail("Loader - multi-view dataset is null");
  }
  if (!sampler_) {
    fail("Loader - sampler is null");
  }
  if (options_.batch_size() <= 0) {
    fail(
        "Loader - batch_size must be positive: {{got {}}}",
        options_.batch_size());
  }
  if (options_.workers() < 0) {
    fail("Loader - workers must be >= 0: {{got {}}}", options_.workers());
  }
  if (options_.prefetch() < 0) {
    fail("Loader - prefetch must be >= 0: {{got {}}}", options_.prefetch());
  }
  pin_ = options_.pin_memory() && torch::cuda::is_available();
  resume_ = sampler_->state();
  epoch_ = resume_.epoch;
}

Loader::~Loader() {
  stop();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = sampler_->size();
  const int64_t b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

void Loader::set_epoch(int64_t epoch) {
  stop();
  sampler_->set_epoch(epoch);
  resume_ = sampler_->state();
  epoch_ = epoch;
}

data::SamplerState Loader::state() const {
  if (!started_) {
    return resume_;
  }
  const int64_t position =
      next_out_ < plans_.size() ? plans_[next_out_].first : end_position_;
  return data::SamplerState{epoch_, position};
}

void Loader::load_state(const data::SamplerState& state) {
  stop();
  sampler_->load_state(state);
  resume_ = sampler_->state();
  epoch_ = resume_.epoch;
}

void Loader::start() {
  // Plan the rest of the epoch from the sampler's current position.
  sampler_->load_state(resume_);
  plans_.clear();
  const size_t b = static_cast<size_t>(options_.batch_size());
  while (true) {
    Plan plan;
    plan.first = sampler_->state().position;
    plan.indices = sampler_->next(b);
    if (plan.indices.empty() ||
        (options_.drop_last() && plan.indices.size() < b)) {
      break;
    }
    plans_.push_back(std::move(plan));
  }
  end_position_ = plans_.empty()
                      ? resume_.position
                      : plans_.back().first +
                            static_cast<int64_t>(plans_.back().indices.size());
  next_out_ = 0;
  next_job_ = 0;
  stop_ = false;
  ready_.clear();
  started_ = true;
  for (int t = 0; t < options_.workers(); ++t) {
    threads_.emplace_back([this] { worker_loop(); });
  }
}

void Loader::stop() {
  if (started_) {
    resume_ = state();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
  ready_.clear();
  plans_.clear();
  started_ = false;
}

void Loader::worker_loop() {
  const size_t capacity = static_cast<size_t>(
      options_.prefetch() > 0 ? options_.prefetch() : 2 * options_.workers());
  while (true) {
    size_t job = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] {
        return stop_ || next_job_ >= plans_.size() ||
               next_job_ < next_out_ + capacity;
      });
      if (stop_ || next_job_ >= plans_.size()) {
        return;
      }
      job = next_job_++;
    }
    Slot slot;
    try {
      slot.batch = make_batch(plans_[job]);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(job, std::move(slot));
    }
    ready_cv_.notify_all();
  }
}

namespace {

bool unshared(const torch::Tensor& t) {
  return t.use_count() == 1 && t.storage().use_count() == 1;
}

}  // namespace

Batch Loader::allocate(int64_t n) {
  const bool full = n == options_.batch_size();
  if (full) {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    for (const Batch& b : pool_) {
      bool free = unshared(b.labels) && unshared(b.indices);
      for (const auto& v : b.views) {
        free = free && unshared(v);
      }
      if (free) {
        return b;  // the copy marks it taken
      }
    }
  }
  auto float_opts = torch::TensorOptions().dtype(torch::kFloat32);
  auto long_opts = torch::TensorOptions().dtype(torch::kInt64);
  if (pin_) {
    float_opts = float_opts.pinned_memory(true);
    long_opts = long_opts.pinned_memory(true);
  }
  Batch batch;
  for (size_t v = 0; v < data_->num_views(); ++v) {
    const auto& r = data_->view(v);
    batch.views.push_back(
        torch::empty({n, r.channels, r.height, r.width}, float_opts));
  }
  batch.labels = torch::empty({n}, long_opts);
  batch.indices = torch::empty({n}, long_opts);
  if (full) {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    const size_t limit = static_cast<size_t>(
        2 * std::max(options_.workers(), 1) + options_.prefetch() + 4);
    if (pool_.size() < limit) {
      pool_.push_back(batch);
    }
  }
  return batch;
}

Batch Loader::make_batch(const Plan& plan) {
  const int64_t n = static_cast<int64_t>(plan.indices.size());
  const size_t views = data_->num_views();
  Batch batch = allocate(n);
  std::vector<float*> base(views);
  std::vector<int64_t> stride(views);
  for (size_t v = 0; v < views; ++v) {
    const auto& r = data_->view(v);
    base[v] = batch.views[v].data_ptr<float>();
    stride[v] = static_cast<int64_t>(r.channels) * r.height * r.width;
  }
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  int64_t* indices = batch.indices.data_ptr<int64_t>();
  std::vector<float*> outs(views);
  pipeline::DrawKey key;
  key.seed = options_.seed();
  key.stream = options_.stream();
  key.epoch = epoch_;
  for (int64_t i = 0; i < n; ++i) {
    key.index = plan.indices[i];
    key.position = sampler_->global_position(plan.first + i);
    for (size_t v = 0; v < views; ++v) {
      outs[v] = base[v] + i * stride[v];
    }
    labels[i] = data_->fill(key, outs.data());
    indices[i] = key.index;
  }
  return batch;
}

std::optional<Batch> Loader::next() {
  if (!started_) {
    start();
  }
  if (next_out_ >= plans_.size()) {
    return std::nullopt;
  }
  Slot slot;
  if (options_.workers() == 0) {
    try {
      slot.batch = make_batch(plans_[next_out_]);
    } catch (...) {
      slot.error = std::current_exception();
    }
  } else {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_cv_.wait(lock, [&] { return ready_.count(next_out_) > 0; });
    auto it = ready_.find(next_out_);
    slot = std::move(it->second);
    ready_.erase(it);
  }
  if (slot.error) {
    // The batch stays unconsumed: state() points at it, and the next call
    // retries it from a clean start.
    stop();
    std::rethrow_exception(slot.error);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++next_out_;
  }
  work_cv_.notify_all();
  return std::move(slot.batch);
}

// ---------------------------------------------------------------------------

PairedLoader::PairedLoader(
    std::shared_ptr<const MultiViewDataset> instance_views,
    std::shared_ptr<const MultiViewDataset> balanced_views,
    std::shared_ptr<data::PairedSampler> sampler,
    LoaderOptions options) {
  if (!sampler) {
    fail("PairedLoader - sampler is null");
  }
  LoaderOptions a = options;
  LoaderOptions b = options;
  a.stream(0);
  b.stream(1);
  instance_ = std::make_unique<Loader>(
      std::move(instance_views), sampler->instance(), a);
  balanced_ = std::make_unique<Loader>(
      std::move(balanced_views), sampler->balanced(), b);
}

void PairedLoader::set_epoch(int64_t epoch) {
  instance_->set_epoch(epoch);
  balanced_->set_epoch(epoch);
}

std::optional<std::pair<Batch, Batch>> PairedLoader::next() {
  auto a = instance_->next();
  auto b = balanced_->next();
  if (!a || !b) {
    return std::nullopt;
  }
  return std::make_pair(std::move(*a), std::move(*b));
}

std::vector<int64_t> PairedLoader::state() const {
  auto a = instance_->state();
  auto b = balanced_->state();
  return {a.epoch, a.position, b.epoch, b.position};
}

void PairedLoader::load_state(const std::vector<int64_t>& state) {
  if (state.size() != 4) {
    fail(
        "PairedLoader::load_state - expected 4 values: {{got {}}}",
        state.size());
  }
  instance_->load_state(data::SamplerState::from_vector({state[0], state[1]}));
  balanced_->load_state(data::SamplerState::from_vector({state[2], state[3]}));
}

}  // namespace ltcl::pipeline
