#pragma once
// The training loop: `ltcl train` as a library call.
//
//   auto cfg = ltcl::train::load_config("configs/mnist_lt/bcl_rcl.yaml");
//   ltcl::train::Trainer trainer(cfg);      // validates, opens data, builds
//   auto result = trainer.run(/*resume=*/false);
//
// Per step: lr from the schedule (a pure function of the position), the
// method's forward pass (train::Precision: autocast / channels-last when
// configured) and loss components, a finite check of every
// component (a NaN / Inf stops the run naming the step and the component,
// before the optimizer touches the weights), backward, SGD step. Per epoch:
// loss means, lr and images/s into the history; evaluation every
// train.eval_every epochs (and at the end) into metrics.jsonl; last.pt
// (and best.pt when the top-1 improves), written atomically. SIGINT /
// SIGTERM finish the step, write last.pt and return with `stopped` set.
//
// Methods wired: ce, la, bs, ldam_drw, focal (one view); supcon_la, bcl,
// bcl_rcl, rcl (three views [classification, contrastive, contrastive] in
// one forward pass of 3B images; loss = alpha * LA-CE(view 0) + beta *
// contrastive(views 1-2, prototypes)); rescom (two views in one forward
// pass; Siamese Balanced Softmax + rescom_weight * class-balanced
// contrastive loss mined against the queue, which is filled after each
// optimizer step and saved with the model as `rescom_queue`); hybrid_sc,
// hybrid_psc (an instance-balanced stream of views 1-2 for the contrastive
// branch and a class-balanced stream of view 0 for the classifier, one
// forward pass; alpha(epoch) * contrastive + (1 - alpha) * CE; PSC's
// prototypes are saved with the model as `psc_prototypes`). See
// docs/training.md.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"
#include "ltcl/dist/context.h"
#include "ltcl/eval/report.h"
#include "ltcl/train/config.h"

namespace ltcl::models {
class NetworkImpl;
}

namespace ltcl::train {

struct TrainResult {
  eval::EvalReport report;  // the last evaluation
  bool stopped = false;     // ended by SIGINT / SIGTERM (checkpoint written)
  int64_t epochs_done = 0;
  int64_t global_step = 0;
  std::string out_dir;
};

// The training and test sets of a data config (the training set long-tailed
// as configured; the test set optionally cut to test_per_class per class).
struct DataSplits {
  data::DatasetPtr train;
  data::DatasetPtr test;
};
DataSplits open_data(const DataConfig& config, const std::string& test_split);


// A contrastive step's inputs over the whole global batch.
struct ContrastiveBatch {
  at::Tensor features;  // [B_global, ...] (order: see the two functions)
  at::Tensor labels;    // [B_global]
};

// Data parallelism hooks for the method step functions (identity when
// ctx is a single process). gather_for_contrastive: features with gradient
// (all_gather_with_grad) and labels, for losses over the global batch.
// gather_for_queue: detached embeddings [B_global, D] and labels of every
// rank in the global sampler order (the order of the 1-process batch;
// every rank passes the same local batch size), for
// memory queues (ResCom enqueues the result, so all ranks' queues agree and
// equal the 1-process queue).
ContrastiveBatch gather_for_contrastive(
    const dist::Context& ctx,
    const at::Tensor& features,
    const at::Tensor& labels);
ContrastiveBatch gather_for_queue(
    const dist::Context& ctx,
    const at::Tensor& embeddings,
    const at::Tensor& labels);

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
  ~Trainer();

  // Trains to the end (or until a stop signal). With `resume`, continues
  // from <output.dir>/last.pt exactly where it was written.
  TrainResult run(bool resume);

  // Evaluates the current model on the test set.
  eval::EvalReport evaluate();

  const Config& config() const;
  std::shared_ptr<models::NetworkImpl> model() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Embeddings / evaluation of a saved model (ltcl eval, ltcl embed).
struct SavedModel {
  Config config;
  std::shared_ptr<models::NetworkImpl> model;
  DataSplits data;
};
SavedModel load_saved_model(
    const std::string& checkpoint,
    const std::string& split,
    const std::string& device);

eval::EvalReport evaluate_model(
    models::NetworkImpl& model,
    const data::Dataset& test,
    const Config& config,
    const std::vector<int64_t>& train_counts);

// Writes label, backbone features and projections of every test sample as a
// CSV (`label,f0..f{F-1},z0..z{D-1}`), loadable with
// numpy.loadtxt(path, delimiter=",", skiprows=1).
void write_embeddings_csv(
    const std::string& path,
    models::NetworkImpl& model,
    const data::Dataset& data,
    const Config& config);

}  // namespace ltcl::train
