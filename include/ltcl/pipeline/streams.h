#pragma once
// The batches of one training step, whatever a method draws: one stream of
// multi-view batches (most methods), or Hybrid's instance-balanced and
// class-balanced streams advanced together. The trainer asks a BatchStream
// for steps and saves / restores its sampler positions by name.
//
//   auto s = pipeline::make_single_stream(views, sampler, options);
//   s->set_epoch(0);
//   while (auto step = s->next()) { ... step->main.views ... }
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/sampler.h"
#include "ltcl/pipeline/loader.h"
#include "ltcl/pipeline/multi_view.h"

namespace ltcl::pipeline {

struct StepBatch {
  Batch main;  // Hybrid: the instance-balanced batch
  std::optional<Batch> balanced;  // Hybrid: the class-balanced batch
};

// Splits a rank's step into `parts` micro-batches for gradient
// accumulation: micro-batch k holds the rows k, k + parts, k + 2 * parts,
// ... of every batch (views, labels, indices). Ranks take interleaved draws
// (rank r of W: global draws r, r + W, ...), so micro-batch k of rank r
// holds exactly the draws rank r + k * W of W * parts processes would take:
// 1 process x K micro-batches, W x K / W and W * K processes train on the
// same per-forward batches. Throws ltcl::Error when a batch's size is not
// divisible by `parts` (parts >= 1).
std::vector<StepBatch> split_step(const StepBatch& step, int64_t parts);

// Sampler positions by stream name: "train" (and "balanced" for two
// streams), each {epoch, position}.
using StreamState = std::map<std::string, std::vector<int64_t>>;

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual void set_epoch(int64_t epoch) = 0;
  virtual int64_t batches_per_epoch() const = 0;
  // The next step's batches; nullopt at the end of the epoch.
  virtual std::optional<StepBatch> next() = 0;
  virtual StreamState state() const = 0;
  // Throws ltcl::Error naming a stream the state lacks.
  virtual void load_state(const StreamState& state) = 0;
  // Images per step, every view of every stream counted.
  virtual int64_t images(const StepBatch& batch) const = 0;
};

// One Loader over `views` drawn by `sampler`.
std::unique_ptr<BatchStream> make_single_stream(
    std::shared_ptr<const MultiViewDataset> views,
    data::SamplerPtr sampler,
    LoaderOptions options);

// One stream like make_single_stream (same sampler draws, batches, views'
// random parameters and state), whose images are decoded once into a uint8
// tensor on `device` and whose views are augmented there in whole batches
// (device_augment.h: every view's recipe needs a batched form, and the
// images must be at the recipes' size). `stats` describes the images (as
// for make_recipe). Throws ltcl::Error naming the recipe or image that does
// not fit.
std::unique_ptr<BatchStream> make_device_stream(
    std::shared_ptr<const MultiViewDataset> views,
    data::SamplerPtr sampler,
    LoaderOptions options,
    const augment::DatasetStats& stats,
    c10::Device device);

// Hybrid's two streams over `train`: recipes[1..] for the instance-balanced
// stream, recipes[0] for the class-balanced one, both
// options.batch_size() images a step, always drop_last.
std::unique_ptr<BatchStream> make_instance_and_balanced_stream(
    const data::DatasetPtr& train,
    const std::vector<augment::Recipe>& recipes,
    const data::SamplerOptions& sampler,
    LoaderOptions options);

}  // namespace ltcl::pipeline
