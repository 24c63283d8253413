#pragma once
// A training method: everything that makes BCL differ from CE, in one place.
//
// Each method lives in one file (its room) under src/train/methods/: a
// MethodInfo that says what the method declares (views, batch streams,
// projection head, SyncBN and drop_last defaults), its config keys, presets
// and checks, and a factory for its Method object, which extends the model
// (modules it attaches: state saved with the model in checkpoints), computes
// the loss parts of a step and acts after the optimizer step. The trainer,
// the config layer and `ltcl eval` only talk to this interface;
// docs/adding-a-method.md walks through adding one.
//
//   const auto& info = ltcl::train::method_info(config.loss.method);
//   info.traits.views   // 3
//   auto method = ltcl::train::make_method(config);
//
// An unknown method name is an ltcl::Error listing the registered ones.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ltcl/train/config.h"
#include "ltcl/train/config_schema.h"

namespace ltcl::models {
class NetworkImpl;
struct NetworkOptions;
struct NetworkOutput;
}  // namespace ltcl::models
namespace ltcl::pipeline {
struct StepBatch;
}
namespace ltcl::dist {
class Context;
}

namespace ltcl::train {
namespace hooks {
class Hook;
}  // namespace hooks

// Named loss parts of one step; "total" is backpropagated, every part is
// logged (and checked for NaN / Inf) as its rank mean.
using LossParts = std::map<std::string, at::Tensor>;

// How a method's batches are drawn.
enum class Streams {
  // One batch of data.views views per image, from the data.sampler stream.
  kOne,
  // Two streams of optim.batch_size images a step (Hybrid): an
  // instance-balanced one with views 1.. (StepBatch::main) and a
  // class-balanced one with view 0 (StepBatch::balanced).
  kInstanceAndBalanced,
};

// How a method takes optim.accumulation_steps > 1.
enum class Accumulation {
  // Its loss is a mean over the images (the CE family): the default
  // Method::accumulate() backpropagates each micro-batch's loss / K, which
  // is the whole batch's gradient (BatchNorm aside).
  kMicroBatchMean,
  // It overrides Method::accumulate() (a term that couples the images of
  // the batch, e.g. the contrastive core's embedding cache).
  kOwn,
  // Not supported: optim.accumulation_steps > 1 is a config error.
  kUnsupported,
};

struct MethodTraits {
  int64_t views = 1;  // entries of data.views
  Streams streams = Streams::kOne;
  bool projection = false;  // the model has a projection head (embeddings)
  bool drop_last = false;  // only full batches (kOne; the two streams always)
  // The dist.sync_bn preset: on for every method, so that N processes
  // normalise over the global batch as one process does (without it the CE
  // family's step-1 gradients differ from one process's by ~23 %).
  bool sync_bn = true;
  bool instance_sampler = false;  // needs data.sampler 'random'
  Accumulation accumulation = Accumulation::kMicroBatchMean;
};

// Given once, after the model is built and on its device.
struct MethodSetup {
  const Config& config;
  const std::vector<int64_t>& class_counts;  // training set, per class
  at::Tensor counts;  // the same, [C] int64 on `device`
  c10::Device device;
  const dist::Context& dist;
  // The model being trained (its weights as initialised, or as resumed
  // when the trainer restores a checkpoint after setup).
  models::NetworkImpl* model = nullptr;
};

// Given at each epoch boundary (Method::epoch_begin / epoch_end).
struct EpochEnv {
  int64_t epoch = 0;  // 0-based
  int64_t steps = 0;  // the epoch's steps
  // The step the epoch starts at: 0, or where a resumed run stopped.
  int64_t first_step = 0;
  models::NetworkImpl* model = nullptr;
};

// Given at each step.
struct StepEnv {
  int64_t epoch = 0;  // 0-based
  models::NetworkImpl* model = nullptr;
  // The model's forward pass with the configured precision (autocast,
  // channels-last).
  std::function<models::NetworkOutput(const at::Tensor&)> forward;
  // The same for another network of the method's (e.g. PaCo's momentum key
  // encoder): its forward pass with the run's precision and memory format.
  std::function<models::NetworkOutput(models::NetworkImpl&, const at::Tensor&)>
      forward_network;
  // Accumulated steps only (Method::accumulate): backpropagates a loss
  // (scaled for fp16), and says whether the coming backward is the step's
  // last, so that the gradient average over the ranks starts only then.
  std::function<void(const at::Tensor&)> backward;
  std::function<void(bool last)> last_backward;
};

class Method {
 public:
  virtual ~Method() = default;
  // Adjusts the model's options after the generic ones (architecture,
  // classes, projection width when traits.projection) are set.
  virtual void configure(models::NetworkOptions& options) const {}
  // Registers the method's modules on the model (before the optimizer is
  // built, and when a checkpoint is loaded for evaluation), so that
  // checkpoints, .to(device) and the optimizer see them.
  virtual void attach(models::NetworkImpl& model) {}
  virtual void setup(const MethodSetup& setup) {}
  // Called after the trainer puts the whole model in training mode (a run's
  // start or resume, `ltcl bench train`): a method that keeps a part
  // frozen sets that part's mode here (e.g. a frozen backbone in eval mode,
  // so its BatchNorm statistics stay). Evaluations during training restore
  // each module's own mode afterwards (models::EvalModeGuard).
  virtual void train_mode(models::NetworkImpl& model) {}
  // Before an epoch's first step (a resumed run: before the step it
  // continues at) and after its last step, before the epoch's evaluation
  // and checkpoint. State changed here that must survive a resume belongs
  // in the model's buffers (attach()).
  virtual void epoch_begin(const EpochEnv& env) {}
  virtual void epoch_end(const EpochEnv& env) {}
  // Run hooks of the method's own (train/hooks.h: at each step, epoch,
  // evaluation and the end of the run, with the run's state and history),
  // appended after the standard ones of `ltcl train`. Called once per run.
  virtual void add_run_hooks(std::vector<std::unique_ptr<hooks::Hook>>& hooks) {}
  // The loss parts of one step.
  virtual LossParts step(
      const pipeline::StepBatch& batch,
      const StepEnv& env) = 0;
  // A step of K = optim.accumulation_steps micro-batches (K > 1; the
  // trainer calls step() and backpropagates "total" itself when K is 1):
  // accumulates the step's gradient through env.backward and returns the
  // loss parts of the whole step, detached. The default (traits
  // Accumulation::kMicroBatchMean) backpropagates step(micro[k]).total / K
  // for each k and returns the parts' means.
  virtual LossParts accumulate(
      const std::vector<pipeline::StepBatch>& micro,
      const StepEnv& env);
  // After the optimizer step (e.g. ResCom fills its queue).
  virtual void after_step() {}
};

struct MethodInfo {
  std::string name;  // loss.method
  std::string summary;  // one line, for listings
  MethodTraits traits;
  // Declares the loss.* keys the method uses (keys shared by methods are
  // declared by each, bound to the same field).
  std::function<void(ConfigSchema&)> keys;
  // Defaults of this method, applied before any key of a file or --set.
  std::function<void(Config&)> preset;
  // Checks across keys, reported with the key to blame.
  ConfigRule check;
  std::function<std::unique_ptr<Method>(const Config&)> make;
};

// Every registered method, in a stable order (the built-in ones first).
const std::vector<MethodInfo>& methods();
std::vector<std::string> method_names();
// The method called `name`; throws ltcl::Error listing the registered ones.
const MethodInfo& method_info(const std::string& name);
// The loss.* keys (full names) the method declares.
std::vector<std::string> method_keys(const std::string& name);
// make() of config.loss.method's info.
std::unique_ptr<Method> make_method(const Config& config);

// The network a config trains: the generic options (model.*, the class
// count, the input channels unless model.in_channels is set, the projection
// head when the method has traits.projection), then method.configure(), then
// the network is built, given the training class counts (model.adjust's
// prior) and method.attach() registers the method's modules.
// Used by the trainer and by checkpoint loading alike, so a checkpoint loads
// into the layout it was saved from. Consumes torch's global generator
// (weight initialisation).
std::shared_ptr<models::NetworkImpl> build_network(
    const Config& config,
    int64_t channels,
    const std::vector<int64_t>& class_counts,
    Method& method);

// Adds a method from outside ltcl; call it before the first config is read
// (the key schema is built once). Throws ltcl::Error on a duplicate name.
void register_method(MethodInfo info);

}  // namespace ltcl::train
