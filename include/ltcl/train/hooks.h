#pragma once
// What happens around the training steps, as hooks the trainer calls in a
// fixed order (standard_hooks() builds the list):
//
//   after each step     DebugSignal (test hooks), Progress, StepLog
//                       (steps.jsonl: step, epoch, lr, loss parts), Checkpoint
//                       (mid-epoch last.pt every train.checkpoint_every)
//   stop?               StopSignal (SIGINT / SIGTERM on any rank)
//   end of an epoch     Progress (epoch line), Evaluation (every
//                       train.eval_every epochs and the last, on the split
//                       train.select_on names (val by default; test with
//                       select_on test; last: val when there is one):
//                       metrics.jsonl, the best mean per-class accuracy)
//   ... the epoch goes into the history ...
//   epoch recorded      Checkpoint (last.pt, best.pt when improved), Curves
//   end of the run      Reports (the test set for the final model and for
//                       best.pt: metrics.json naming the selecting split,
//                       per-class / confusion CSVs, plots)
//   all of the above    TensorBoardLog (output.tensorboard: event files in
//                       the run folder mirroring steps.jsonl, metrics.jsonl
//                       and the final report)
//
// A method's own hooks (Method::add_run_hooks) follow these. Rank 0 alone
// evaluates and writes files; the other ranks run the same hooks and wait
// for it on barriers.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ltcl/dist/context.h"
#include "ltcl/eval/evaluate.h"
#include "ltcl/eval/history.h"
#include "ltcl/eval/report.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/config.h"

namespace ltcl::train::hooks {

struct Run;

// What hooks ask of the trainer that runs them (Trainer::State implements
// it): saving the run's state and evaluating models on a split.
class RunServices {
 public:
  virtual ~RunServices() = default;
  // Records the position (epoch, step in epoch), sampler and RNG states and
  // history into run.state, as save_last does, without writing.
  virtual void capture_state(Run& run, int64_t epoch, int64_t step) = 0;
  // Saves last.pt at (epoch, step in epoch) on rank 0; all ranks wait.
  virtual void save_last(Run& run, int64_t epoch, int64_t step) = 0;
  // Writes the model and run.state to a path (rank 0).
  virtual void save_as(Run& run, const std::string& path) = 0;
  // The current model on "val" or "test".
  virtual eval::EvalReport evaluate(const std::string& split) = 0;
  // A saved checkpoint on a split.
  virtual eval::EvalReport evaluate_checkpoint(
      const std::string& checkpoint,
      const std::string& split) = 0;
  // The same with every sample's features and projections kept (an empty
  // checkpoint: the current model).
  virtual eval::EmbeddedEval evaluate_embedded(
      const std::string& checkpoint,
      const std::string& split) = 0;
};

// The state of one run that hooks read and update.
struct Run {
  Run(const Config& c, const dist::Context& x, RunServices& s)
      : config(c), ctx(x), services(s) {}

  const Config& config;
  const dist::Context& ctx;
  bool main = true;  // rank 0: evaluates, logs, writes files
  std::filesystem::path out;
  std::string last, best;  // checkpoint paths
  Checkpoint state;  // position, best metric, RNG, history (when saved)
  eval::History history;
  // The epoch's evaluation during training (Evaluation sets it when one is
  // due; the epoch record's split names it), for the hooks after it.
  eval::EvalReport evaluation;
  eval::EvalReport report;  // at the end: the selected checkpoint's test
  eval::EvalReport last_report;  // at the end: the final model's test
  bool improved = false;  // this epoch's evaluation beat the best so far
  bool has_val = false;  // a validation set exists
  std::string val_source;  // how it was made (DataSplits::val_source)
  RunServices& services;
  // RunServices for this run.
  void capture_state(int64_t epoch, int64_t step) {
    services.capture_state(*this, epoch, step);
  }
  void save_last(int64_t epoch, int64_t step) {
    services.save_last(*this, epoch, step);
  }
  void save_as(const std::string& path) {
    services.save_as(*this, path);
  }
  eval::EvalReport evaluate(const std::string& split) {
    return services.evaluate(split);
  }
  eval::EvalReport evaluate_checkpoint(
      const std::string& checkpoint,
      const std::string& split) {
    return services.evaluate_checkpoint(checkpoint, split);
  }
  eval::EmbeddedEval evaluate_embedded(
      const std::string& checkpoint,
      const std::string& split) {
    return services.evaluate_embedded(checkpoint, split);
  }
  std::vector<int64_t> class_counts;  // of the training set
  std::vector<std::string> class_names;
  // model.init_from: the file's CRC-32 (hex) and the tensors copied;
  // empty / 0 without it.
  std::string init_from_crc32;
  int64_t init_from_tensors = 0;
  // How the steps ran, for metrics.json "run": the precision (float32,
  // bf16 or fp16 autocast, the heads in float32), channels-last, the device
  // and the threads of each process.
  std::string precision = "float32";
  bool channels_last = false;
  std::string device = "cpu";
  int64_t threads = 0;
  int64_t processes = 1;
};

struct StepInfo {
  int64_t epoch = 0;
  int64_t step = 0;  // steps of the epoch done, this one included
  int64_t steps = 0;  // steps of the epoch
  double lr = 0;
  const std::map<std::string, double>* losses = nullptr;  // rank means
  int64_t images = 0;  // images the step drew, every view, all ranks
  double seconds = 0;  // wall time of the step, the wait for its batch included
};

class Hook {
 public:
  virtual ~Hook() = default;
  virtual void epoch_begin(Run& run, int64_t epoch, int64_t steps) {}
  virtual void step_end(Run& run, const StepInfo& step) {}
  // True: the run stops after this step (checkpoint written by the trainer).
  virtual bool stop_after(Run& run, const StepInfo& step) {
    return false;
  }
  virtual void epoch_end(Run& run, eval::EpochRecord& record) {}
  virtual void epoch_recorded(Run& run, const eval::EpochRecord& record) {}
  virtual void run_end(Run& run) {}
};

using Hooks = std::vector<std::unique_ptr<Hook>>;

// The hooks of `ltcl train`, in the order above.
Hooks standard_hooks(const Config& config);

// Whether any rank saw a stop signal (a one-number all-reduce when
// distributed, so that every rank stops at the same point).
bool stop_agreed(const dist::Context& ctx);

}  // namespace ltcl::train::hooks
