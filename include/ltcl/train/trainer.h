#pragma once
// The training loop: `ltcl train` as a library call.
//
//   auto cfg = ltcl::train::load_config("configs/mnist_lt/bcl_rcl.yaml");
//   ltcl::train::Trainer trainer(cfg);      // validates, opens data, builds
//   auto result = trainer.run(/*resume=*/false);
//
//   // or on data of your own (any data::Dataset, e.g. InMemoryDataset):
//   ltcl::train::Trainer trainer(cfg, {train, test});
//
// What a step computes is the method's (train/method.h: one room per
// method); the trainer around it is the same for every method.
//
// Per step (train_step): lr from the schedule (a pure function of the
// position), the method's loss parts (forward through train::Precision:
// autocast / channels-last when configured), a finite check of every part
// (a NaN / Inf stops the run naming the step and the part, before the
// optimizer touches the weights), backward, gradient average over the ranks,
// SGD step, the method's after-step. Per epoch: loss means, lr and images/s
// into the history. Around them, hooks in a fixed order (src/train/hooks.h):
// progress, mid-epoch checkpoints, the stop signal (SIGINT / SIGTERM finish
// the step, write last.pt and return with `stopped` set), evaluation every
// train.eval_every epochs (and at the end) on the selecting split
// (train.select_on: validation by default) into metrics.jsonl, last.pt and
// best.pt (when that split's mean per-class accuracy improves), written
// atomically, curves.png; at the end the test set for the final model and
// the selected checkpoint: metrics.json (naming the selecting split),
// per_class.csv, confusion.csv, per_class.png.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ltcl/dist/context.h"
#include "ltcl/eval/report.h"
#include "ltcl/train/config.h"
#include "ltcl/train/data.h"

namespace ltcl::models {
class NetworkImpl;
}

namespace ltcl::train {

struct TrainResult {
  // Test report of the selected checkpoint (train.select_on: best.pt when
  // chosen on val / test, the final model with last) and of the final model.
  eval::EvalReport report;
  eval::EvalReport last_report;
  bool stopped = false;     // ended by SIGINT / SIGTERM (checkpoint written)
  int64_t epochs_done = 0;
  int64_t global_step = 0;
  std::string out_dir;
};

// `ltcl bench train`: where a step's time goes (Trainer::bench).
struct BenchOptions {
  int64_t steps = 20;  // timed steps of each kind
  int64_t warmup = 3;  // untimed steps first
  bool evaluate = true;  // also time one evaluation pass
};

struct BenchReport {
  int64_t steps = 0;
  int64_t images_per_step = 0;  // every view of every rank
  int64_t steps_per_epoch = 0;
  // Seconds per step of each phase of the full pipeline, in step order:
  // loader_wait, host_to_device, forward, loss (the method's work around
  // the forward pass), loss_readout (the parts to the host, all-reduced,
  // checked finite), backward, grad_allreduce, optimizer. On CUDA the
  // device is synchronised at every boundary (so phases add up; the
  // pipeline then runs a little slower than in training).
  std::vector<std::pair<std::string, double>> phases;
  double step_seconds = 0;  // full pipeline, per step
  double pipeline_images_per_s = 0;
  // The same model, method and batch shape on synthetic tensors already on
  // the device: no loader, no copy.
  double model_only_images_per_s = 0;
  double eval_seconds = 0;  // one pass over the selecting split (or test)
  int64_t eval_images = 0;
  std::string eval_split;
};

class Trainer {
 public:
  // Validates the config as a whole, opens the data, builds the model and
  // optimizer. Writes nothing. Throws ltcl::Error on any problem.
  //
  // Data parallel (ctx of world W > 1, docs/distributed.md): optim.batch_size
  // is the global batch (must be divisible by W; each rank takes batch / W
  // samples of the sampler's global sequence, ranks interleaved); rank 0's
  // weights are broadcast; SyncBN when dist.sync_bn; gradients averaged
  // before every optimizer step; contrastive losses over the global batch.
  // Only rank 0 evaluates and writes files; logged losses are rank means.
  explicit Trainer(Config config, dist::Context ctx = {});
  // The same on given data instead of the config's data section (which
  // then only names the normalisation: data.dataset).
  Trainer(Config config, DataSplits data, dist::Context ctx = {});
  ~Trainer();

  // Trains to the end (or until a stop signal). With `resume`, continues
  // from <output.dir>/last.pt exactly where it was written.
  TrainResult run(bool resume);

  // Times `options.steps` steps of the real recipe (BenchReport), then as
  // many on synthetic tensors; changes the model's weights, writes nothing.
  BenchReport bench(const BenchOptions& options);

  // Evaluates the current model on "test" or "val".
  eval::EvalReport evaluate(const std::string& split = "test");

  // The data trained and evaluated on (after the validation split).
  const DataSplits& data() const;

  const Config& config() const;
  std::shared_ptr<models::NetworkImpl> model() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace ltcl::train
