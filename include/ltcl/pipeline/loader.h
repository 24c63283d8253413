#pragma once
// The batch loader: a sampler's indices -> multi-view batches, made by worker
// threads ahead of the consumer.
//
//   auto views = std::make_shared<MultiViewDataset>(data, recipes);
//   auto sampler = make_sampler("random", *data, {seed});
//   Loader loader(views, sampler, LoaderOptions().batch_size(256).workers(2));
//   for (int64_t e = 0; e < epochs; ++e) {
//     loader.set_epoch(e);
//     while (auto batch = loader.next()) { ... batch->views[v] ... }
//   }
//
// Each batch is planned from the sampler, then filled by one worker: every
// sample is decoded once and each view is augmented and normalised straight
// into its row of the batch's preallocated [B, C, H, W] float tensor (pinned
// memory when CUDA is available). At most `prefetch` batches are in flight
// or waiting. Batches come out in sampler order.
//
// Batch tensors are recycled: once the caller has dropped every handle to a
// batch's tensors (and every view of them), their memory is reused for a
// later batch. Tensors kept longer are simply not recycled; keep
// `.clone()`s if you write into raw pointers you saved from them.
//
// Determinism: sample i of a batch uses the streams of
// pipeline::DrawKey{seed, stream, epoch, global position, index}, so batches
// are identical for any worker count (0 = fill on the caller's thread).
//
// Resume: state() is the sampler state just after the last batch returned
// (not counting prefetched work); load_state(state()) in a fresh loader
// continues with exactly the next batch.
//
// Errors in a worker (a corrupt file, a bad view shape) are rethrown by next()
// when that batch's turn comes, with the sample's describe() in the message.
// The destructor stops and joins the workers.
#include <torch/arg.h>
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "ltcl/pipeline/multi_view.h"
#include "ltcl/data/sampler.h"

namespace ltcl::pipeline {

struct Batch {
  std::vector<torch::Tensor> views;  // V tensors [B, C, H, W] float32
  torch::Tensor labels;              // [B] int64
  torch::Tensor indices;             // [B] int64 (dataset indices)
};

struct LoaderOptions {
  // Samples per batch (> 0).
  TORCH_ARG(int64_t, batch_size) = 256;
  // Worker threads; 0 fills batches on the caller's thread in next().
  TORCH_ARG(int, workers) = 2;
  // Batches in flight or ready ahead of the consumer; 0 = 2 * workers.
  TORCH_ARG(int, prefetch) = 0;
  // Drop the epoch's last, incomplete batch.
  TORCH_ARG(bool, drop_last) = false;
  // Page-lock the batch tensors when CUDA is available.
  TORCH_ARG(bool, pin_memory) = true;
  // Seed of the augmentation streams.
  TORCH_ARG(uint64_t, seed) = 0;
  // Tells apart loaders that share a seed (a paired loader's two streams).
  TORCH_ARG(int64_t, stream) = 0;
};

class Loader {
 public:
  Loader(
      std::shared_ptr<const MultiViewDataset> data,
      data::SamplerPtr sampler,
      LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts epoch `epoch` (drops any prefetched work).
  void set_epoch(int64_t epoch);
  // The next batch of the epoch; nullopt once the epoch is exhausted.
  std::optional<Batch> next();
  // Batches per epoch for this rank.
  int64_t batches_per_epoch() const;

  data::SamplerState state() const;
  void load_state(const data::SamplerState& state);

  const LoaderOptions& options() const {
    return options_;
  }

 private:
  struct Plan {
    std::vector<int64_t> indices;
    int64_t first = 0;  // local sampler position of indices[0]
  };
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  void start();
  void stop();
  void worker_loop();
  Batch make_batch(const Plan& plan);
  // Full-size batch tensors come from a small pool and are reused once
  // nobody else holds them (no view, no copy of the handle): no page faults
  // or allocator churn per batch.
  Batch allocate(int64_t n);

  std::shared_ptr<const MultiViewDataset> data_;
  data::SamplerPtr sampler_;
  LoaderOptions options_;
  bool pin_ = false;

  // The current epoch's plan; consumer position.
  bool started_ = false;
  int64_t epoch_ = 0;
  std::vector<Plan> plans_;
  int64_t end_position_ = 0;  // sampler position after the whole plan
  size_t next_out_ = 0;
  data::SamplerState resume_;

  // Worker coordination.
  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable ready_cv_;
  size_t next_job_ = 0;
  bool stop_ = false;
  std::map<size_t, Slot> ready_;
  std::vector<std::thread> threads_;

  std::mutex pool_mutex_;
  std::vector<Batch> pool_;
};

// Hybrid-SC's two batch streams, one step at a time: an instance-balanced
// batch (for the contrastive branch) and a class-balanced batch (for the
// classifier), each from its own Loader (stream 0 and 1, each with
// options.workers threads) over a data::PairedSampler.
class PairedLoader {
 public:
  PairedLoader(
      std::shared_ptr<const MultiViewDataset> instance_views,
      std::shared_ptr<const MultiViewDataset> balanced_views,
      std::shared_ptr<data::PairedSampler> sampler,
      LoaderOptions options = {});

  void set_epoch(int64_t epoch);
  // {instance batch, class-balanced batch}; nullopt at the epoch's end.
  std::optional<std::pair<Batch, Batch>> next();
  int64_t batches_per_epoch() const {
    return instance_->batches_per_epoch();
  }
  // {instance epoch, position, balanced epoch, position}.
  std::vector<int64_t> state() const;
  void load_state(const std::vector<int64_t>& state);

 private:
  std::unique_ptr<Loader> instance_;
  std::unique_ptr<Loader> balanced_;
};

}  // namespace ltcl::pipeline
