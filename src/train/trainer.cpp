#include "ltcl/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "ltcl/augment/recipe.h"
#include "ltcl/dist/collectives.h"
#include "ltcl/dist/sync_batchnorm.h"
#include "ltcl/eval/evaluate.h"
#include "ltcl/losses/checks.h"
#include "ltcl/models/network.h"
#include "ltcl/models/pretrained.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/loss_scaler.h"
#include "ltcl/train/method.h"
#include "ltcl/train/precision.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/train/schedule.h"
#include "ltcl/train/stages.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/guard.h"
#include "ltcl/util/logging.h"
#include "ltcl/util/run_lock.h"
#include "ltcl/util/signals.h"
#include "ltcl/train/hooks.h"
#include "nan_guard.h"

namespace ltcl::train {
namespace {

namespace fs = std::filesystem;

// A resumed run's global step beyond this is refused (2^40 steps: far more
// than any run takes; keeps the counter far from overflowing).
constexpr int64_t kMaxResumedSteps = int64_t(1) << 40;

// Sampler states in checkpoints are GLOBAL: {epoch, draws taken by all ranks
// together} per stream. Rank r of W has taken position / W draws of the
// epoch's global sequence (ranks take draws r, r + W, ...; every rank
// advances by the same local batch per step), so a state maps to any world
// size W' that divides the global position -- always the case at a step
// boundary, since the global batch is a multiple of W'.
pipeline::StreamState to_global_state(pipeline::StreamState s, int world) {
  for (auto& [name, v] : s) {
    v[1] *= world;
  }
  return s;
}

pipeline::StreamState to_local_state(pipeline::StreamState s, int world) {
  for (auto& [name, v] : s) {
    if (v.size() != 2 || v[1] % world != 0) {
      fail(
          "Trainer::run - --resume: the checkpoint's '{}' sampler position is "
          "not divisible by the world size {}",
          name,
          world);
    }
    v[1] /= world;
  }
  return s;
}

// Whether `saved` (a checkpoint's config text) is `current` but for
// output.dir (a run folder may be moved or copied before a resume).
bool same_but_folder(const std::string& saved, const Config& current) {
  try {
    Config c = parse_config(saved, "the checkpoint's config");
    c.output.dir = current.output.dir;
    return to_yaml(c) == to_yaml(current);
  } catch (const Error&) {
    return false;  // then only the checks that hold for any config
  }
}

}  // namespace

// Phase times of steps run by Trainer::bench (nullptr in training).
struct PhaseClock {
  bool cuda = false;
  std::vector<std::pair<std::string, double>> seconds;  // in first-seen order
  std::chrono::steady_clock::time_point last;

  void sync() const {
    if (cuda) {
      torch::cuda::synchronize();
    }
  }
  void start() {
    sync();
    last = std::chrono::steady_clock::now();
  }
  // The time since the last lap goes to `phase`.
  void lap(const std::string& phase) {
    sync();
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last).count();
    last = now;
    for (auto& [name, v] : seconds) {
      if (name == phase) {
        v += s;
        return;
      }
    }
    seconds.emplace_back(phase, s);
  }
};

struct Trainer::State : hooks::RunServices {
  Config config;
  dist::Context ctx;
  // Rank 0 holds output.dir for the whole run: a second run on the same
  // folder fails at once instead of both writing it.
  std::unique_ptr<util::FolderLock> folder_lock;
  std::unique_ptr<dist::GradReducer> reducer;
  InitFromReport init_from;  // model.init_from (empty path: none)
  torch::Device device{torch::kCPU};
  DataSplits data;
  std::vector<int64_t> counts;
  torch::Tensor counts_t;
  ModelInfo info;  // saved with every checkpoint (train/saved_model.h)
  std::optional<augment::Recipe> eval_recipe;  // set by build()
  std::unique_ptr<Method> method;
  std::shared_ptr<models::NetworkImpl> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  // train.amp / train.channels_last of the forward pass; fp16's scaler.
  std::unique_ptr<Precision> precision;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<pipeline::BatchStream> stream;
  PhaseClock* clock = nullptr;  // set by bench()
  // The losses check label ranges and class counts (a read-back to the host
  // each) on this process's first step only: the data cannot change them.
  bool inputs_checked = false;
  // The NaN guard's fallback (src/train/nan_guard.h): the state before the
  // update of the latest step whose loss was finite. Set by run() and
  // bench().
  std::unique_ptr<NanGuard> guard;
  bool resumed = false;  // run(true): the first step starts from last.pt

  void lap(const char* phase) {
    if (clock) {
      clock->lap(phase);
    }
  }

  void build(Config c, dist::Context context, DataSplits splits);
  // Steps of an epoch: the stream's batches, at most
  // train.max_steps_per_epoch.
  int64_t steps_per_epoch() const;
  // --resume continues exactly or refuses: throws ltcl::Error naming `path`
  // and the record or field unless every record the run needs besides the
  // model's and optimizer's (load_checkpoint checked those) is there and
  // every counter is in range.
  void check_resumable(
      const Checkpoint& state,
      const std::string& path,
      bool same_config) const;
  void begin(hooks::Run& run, bool resume);
  bool train_epoch(
      hooks::Run& run,
      hooks::Hooks& hooks,
      int64_t epoch,
      int64_t first_step);
  // `position`: the run's state before this step, kept by the NaN guard
  // (null: not kept).
  std::map<std::string, double> train_step(
      const pipeline::StepBatch& batch,
      int64_t epoch,
      int64_t global_step,
      const Checkpoint* position = nullptr,
      size_t history_size = 0);
  // The run's position before the step at (epoch, step): what a checkpoint
  // written there holds besides the model, optimizer, config and history.
  Checkpoint position(const hooks::Run& run, int64_t epoch, int64_t step);
  // A non-finite loss or model output (`what`): writes the NaN guard's
  // fallback as last.pt and throws ltcl::Error saying how to continue.
  // `all_ranks`: every rank detected it (a loss check), so all take part.
  [[noreturn]] void diverged(
      hooks::Run& run,
      const std::string& what,
      bool all_ranks);
  // The whole model in training mode, then a frozen backbone's BatchNorm
  // back in eval mode (model.freeze_bn), then the method's own
  // (Method::train_mode).
  void train_mode() {
    model->train();
    if (config.model.freeze != "none" && config.model.freeze_bn) {
      model->backbone.ptr()->eval();
    }
    method->train_mode(*model);
  }
  // hooks::RunServices (defined with begin()).
  void capture_state(hooks::Run& run, int64_t epoch, int64_t step) override;
  void save_last(hooks::Run& run, int64_t epoch, int64_t step) override;
  void save_as(hooks::Run& run, const std::string& path) override;
  eval::EvalReport evaluate_checkpoint(
      const std::string& path,
      const std::string& split) override;
  eval::EmbeddedEval evaluate_embedded(
      const std::string& path,
      const std::string& split) override;
  // The current model on "test" or "val".
  eval::EvalReport evaluate(const std::string& split) override {
    return evaluate_on(*model, split);
  }
  eval::EvalReport evaluate_on(
      models::NetworkImpl& net,
      const std::string& split) {
    const data::DatasetPtr& d = data.at(split);
    return eval::evaluate_model(
        net, *d, *eval_recipe, config.train.eval_batch_size, counts);
  }
};

// `c` is validated by the constructors, before any data is opened.
void Trainer::State::build(Config c, dist::Context context, DataSplits splits) {
  if (c.model.adjust == "ncm") {
    fail(
        "model.adjust ncm: its class centroids come from a trained model; "
        "train with another model.adjust, then run ltcl adjust --checkpoint "
        "RUN/best.pt --adjust ncm --out FILE");
  }
  const int world = context.world_size();
  const int64_t accumulation = c.optim.accumulation_steps;
  if (c.optim.batch_size % (world * accumulation) != 0) {
    fail(
        "optim.batch_size: the global batch {} is not divisible by the world "
        "size {}{} (each rank takes batch / world{})",
        c.optim.batch_size,
        world,
        accumulation > 1
            ? fmt::format(" x optim.accumulation_steps {}", accumulation)
            : std::string(),
        accumulation > 1 ? ", in micro-batches of 1 / accumulation_steps"
                         : "");
  }
  ctx = context;
  config = std::move(c);
  const Config& cfg = config;
  const MethodInfo& info_of_method = method_info(cfg.loss.method);
  util::setup_threads(cfg.train.threads, cfg.train.interop_threads);
  device = pick_device(cfg.train.device);
  if (device.is_cuda() && ctx.distributed()) {
    // One GPU per process: LOCAL_RANK selects it.
    auto n = static_cast<int>(torch::cuda::device_count());
    device = torch::Device(
        torch::kCUDA,
        static_cast<c10::DeviceIndex>(ctx.local_rank() % std::max(1, n)));
  }
  if (device.is_cuda()) {
    // cuDNN autotune: a run sees a few batch shapes (the full batch, an
    // epoch's last partial one, evaluation's), each searched once and
    // cached, so the search pays for itself (GPU runs are not bitwise
    // reproducible in any case; CPU runs are unaffected).
    at::globalContext().setBenchmarkCuDNN(true);
  }
  {
    // train.amp / train.channels_last "auto" for this device and CPU,
    // written back so that config.yaml, checkpoints and reports say what
    // ran (a resume on another CPU warns that the config differs).
    const bool cpu_bf16 = auto_cpu_bf16();
    const auto choice = resolve_precision(
        config.train.amp, config.train.channels_last, device, cpu_bf16);
    if (config.train.amp == "auto" ||
        (config.train.channels_last == "auto" && choice.channels_last)) {
      // When amp is auto, or channels_last auto turned NHWC on (the
      // resolved values are in the logged config either way).
      spdlog::info(
          "precision: amp {}, channels-last {} (auto on {}; AVX-512 BF16 "
          "{}: the CPU's, or LTCL_CPU_BF16 when set)",
          choice.amp, choice.channels_last, device.str(),
          cpu_bf16 ? "yes" : "no");
    }
    config.train.amp = choice.amp;
    config.train.channels_last = choice.channels_last ? "true" : "false";
  }
  data = std::move(splits);
  counts = data.train->class_counts();
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] == 0) {
      if (cfg.data.profile == "none") {
        fail(
            "Trainer - class {} ('{}') has no training image: the training "
            "data holds none of it",
            k,
            data.train->class_names()[k]);
      }
      fail(
          "Trainer - class {} ('{}') has no training image after the "
          "long-tail selection (lower data.imbalance_factor)",
          k,
          data.train->class_names()[k]);
    }
  }
  if (data.test->num_classes() != data.train->num_classes()) {
    fail(
        "Trainer - the test set has {} classes, the training set {}",
        data.test->num_classes(),
        data.train->num_classes());
  }
  if (data.val && data.val->num_classes() != data.train->num_classes()) {
    fail(
        "Trainer - the validation set has {} classes, the training set {}",
        data.val->num_classes(),
        data.train->num_classes());
  }
  if (cfg.train.select_on == "val" && !data.val) {
    fail(
        "train.select_on: 'val' needs a validation set (data.validation is "
        "none): choose test (test-selected) or last");
  }
  const auto n_train = static_cast<int64_t>(data.train->size());
  if (n_train < config.optim.batch_size) {
    // A small folder of one's own images: one step of every image per
    // epoch instead of no step at all (the recipe's batch is larger than
    // the data). Recorded in the resolved config, so a resume agrees.
    const int64_t unit = world * accumulation;
    const int64_t b = std::max<int64_t>(unit, n_train / unit * unit);
    spdlog::warn(
        "optim.batch_size {} is larger than the {} training images: using "
        "batches of {} (one step an epoch)",
        config.optim.batch_size, n_train, b);
    config.optim.batch_size = b;
  }
  counts_t = torch::tensor(counts, torch::kLong).to(device);
  const auto stats = dataset_stats(cfg.data, *data.train);
  info.class_counts = counts;
  info.class_names = data.train->class_names();
  info.stats = stats;
  eval_recipe = augment::make_recipe(cfg.data.eval_recipe, stats);

  // The batches the method draws.
  std::vector<augment::Recipe> recipes;
  for (const auto& name : cfg.data.views) {
    recipes.push_back(augment::make_recipe(name, stats));
  }
  data::SamplerOptions so;
  so.seed = static_cast<uint64_t>(cfg.train.seed);
  so.rank = ctx.rank();
  so.world_size = world;
  auto lo = pipeline::LoaderOptions()
                .batch_size(cfg.optim.batch_size / world)
                .workers(static_cast<int>(cfg.data.workers))
                // Accumulation splits every batch into equal micro-batches.
                .drop_last(info_of_method.traits.drop_last || accumulation > 1)
                .seed(static_cast<uint64_t>(cfg.train.seed));
  if (info_of_method.traits.streams == Streams::kInstanceAndBalanced) {
    if (cfg.data.device_augment) {
      fail(
          "data.device_augment: method '{}' draws two streams (instance- and "
          "class-balanced), which only the CPU loader makes; set it false",
          cfg.loss.method);
    }
    stream = pipeline::make_instance_and_balanced_stream(
        data.train, recipes, so, lo);
  } else {
    auto views = std::make_shared<pipeline::MultiViewDataset>(
        data.train, std::move(recipes));
    auto sampler = data::make_sampler(cfg.data.sampler, *data.train, so);
    if (cfg.data.device_augment) {
      stream = pipeline::make_device_stream(views, sampler, lo, stats, device);
      spdlog::info(
          "data.device_augment: {} training images decoded onto {}, views "
          "augmented there",
          data.train->size(),
          device.str());
    } else {
      stream = pipeline::make_single_stream(views, sampler, lo);
    }
  }

  // The model (seeded initialisation), with the method's modules.
  method = make_method(cfg);
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
  model = build_network(cfg, stats.channels, counts, *method);
  if (cfg.model.adjust != "none") {
    spdlog::info(
        "model.adjust: evaluations use {} logits (training logits "
        "unchanged)",
        model->adjust_description());
  }
  if (!cfg.model.pretrained.empty()) {
    const int64_t n =
        models::load_pretrained_backbone(*model, cfg.model.pretrained);
    spdlog::info(
        "model.pretrained: {} backbone tensors from {}", n,
        cfg.model.pretrained);
  }
  if (!cfg.model.init_from.empty()) {
    init_from = init_from_checkpoint(
        *model, cfg.model.init_from, cfg.model.init_from_parts);
    spdlog::info(
        "model.init_from: {} {} tensors from {} (CRC-32 {:08x})",
        init_from.tensors,
        init_from.parts,
        init_from.path,
        init_from.crc32);
  }
  if (cfg.model.freeze != "none") {
    const int64_t n = freeze_parts(*model, cfg.model.freeze);
    spdlog::info(
        "model.freeze: {} {} parameters frozen{}",
        n,
        cfg.model.freeze,
        cfg.model.freeze_bn
            ? ", their BatchNorm statistics too (backbone in eval mode)"
            : "; BatchNorm statistics follow the batches");
  }
  model->to(device);
  precision = std::make_unique<Precision>(
      cfg.train.amp, cfg.train.channels_last == "true", device);
  precision->prepare(*model);
  if (precision->needs_loss_scaling()) {
    scaler = std::make_unique<LossScaler>();
  }
  if (ctx.distributed()) {
    // Same initial weights everywhere (rank 0's), SyncBN on request, and
    // gradient averaging in buckets overlapped with backward.
    dist::broadcast_module(ctx, *model);
    if (cfg.dist.sync_bn) {
      int n = dist::enable_sync_batchnorm(*model, ctx);
      if (n == 0) {
        spdlog::warn(
            "dist.sync_bn: model '{}' has no SyncBatchNorm layer; BatchNorm "
            "statistics stay per rank",
            cfg.model.arch);
      }
    }
    std::vector<torch::Tensor> trained;
    for (const auto& p : model->parameters()) {
      if (p.requires_grad()) {
        trained.push_back(p);
      }
    }
    reducer = std::make_unique<dist::GradReducer>(
        ctx,
        trained,
        dist::GradReducerOptions().bucket_cap_mb(cfg.dist.bucket_mb));
  }
  optimizer = make_optimizer(*model, cfg.optim);
  method->setup(MethodSetup{cfg, counts, counts_t, device, ctx, model.get()});
}

// One optimizer step; returns the loss parts as rank means.
std::map<std::string, double> Trainer::State::train_step(
    const pipeline::StepBatch& batch,
    int64_t epoch,
    int64_t global_step,
    const Checkpoint* position,
    size_t history_size) {
  if (guard && position) {
    // Before the forward, which changes the BatchNorm statistics.
    guard->begin_step(*model, *position, history_size);
    lap("nan_guard");
  }
  std::optional<losses::TrustedInputs> trust;
  if (inputs_checked) {
    trust.emplace();
  }
  StepEnv env;
  env.epoch = epoch;
  env.model = model.get();
  env.forward = [this](const torch::Tensor& x) {
    if (!clock) {
      return precision->forward(*model, x);
    }
    lap("loss");
    auto out = precision->forward(*model, x);
    lap("forward");
    return out;
  };
  env.forward_network = [this](models::NetworkImpl& net, const torch::Tensor& x) {
    return precision->forward(net, x);
  };
  const int64_t accumulation = config.optim.accumulation_steps;
  // Backward of a loss, scaled for fp16.
  auto backward = [this](const torch::Tensor& loss) {
    if (scaler) {
      scaler->scale(loss).backward();
    } else {
      loss.backward();
    }
  };
  LossParts parts;
  if (accumulation > 1) {
    // The method backpropagates micro-batch by micro-batch; the gradient
    // average over the ranks starts with the last backward.
    env.backward = backward;
    env.last_backward = [this](bool last) {
      if (reducer) {
        reducer->set_require_sync(last);
      }
    };
    optimizer->zero_grad();
    parts = method->accumulate(
        pipeline::split_step(batch, accumulation), env);
  } else {
    parts = method->step(batch, env);
  }
  lap("loss");
  if (!parts.count("total")) {
    fail(
        "Trainer - method '{}' returned no 'total' loss part",
        config.loss.method);
  }
  // The loss parts, logged (and checked) as rank means.
  const int world = ctx.world_size();
  // One read-back to the host for all the parts (not one each).
  std::vector<torch::Tensor> detached;
  detached.reserve(parts.size());
  for (const auto& kv : parts) {
    detached.push_back(kv.second.detach().reshape({}).to(torch::kDouble));
  }
  auto flat = torch::stack(detached).to(torch::kCPU).contiguous();
  ctx.all_reduce(flat, dist::ReduceOp::kSum);
  std::map<std::string, double> values;
  {
    auto fa = flat.accessor<double, 1>();
    int64_t i = 0;
    for (const auto& kv : parts) {
      values[kv.first] = fa[i++] / world;
    }
  }
  util::check_finite(values, global_step, epoch);
  lap("loss_readout");
  if (guard && position) {
    // The loss is finite: the weights and momentum before this update are
    // the fallback if the next step (or evaluation) is not.
    guard->commit(*model, *optimizer);
    lap("nan_guard");
  }
  if (accumulation == 1) {
    optimizer->zero_grad();
    backward(parts["total"]);
  }
  lap("backward");
  if (reducer) {
    reducer->synchronize();  // gradient average over the ranks
  }
  lap("grad_allreduce");
  if (scaler) {
    // fp16: the averaged gradients are the same on every rank, so every
    // rank takes the same decision.
    const bool finite = scaler->unscale(model->parameters());
    if (finite) {
      optimizer->step();
    } else {
      spdlog::warn(
          "amp fp16: non-finite gradients at step {}; step skipped, loss "
          "scale {} -> {}",
          global_step, scaler->value(),
          scaler->value() * LossScalerOptions().backoff);
    }
    scaler->update(finite);
  } else {
    optimizer->step();
  }
  method->after_step();
  lap("optimizer");
  inputs_checked = true;
  return values;
}

namespace {

pipeline::Batch batch_to(const pipeline::Batch& b, const torch::Device& d) {
  pipeline::Batch out;
  for (const auto& v : b.views) {
    out.views.push_back(v.to(d, /*non_blocking=*/true));
  }
  out.labels = b.labels.to(d, /*non_blocking=*/true);
  out.indices = b.indices;
  return out;
}

pipeline::StepBatch step_to(
    const pipeline::StepBatch& s,
    const torch::Device& d) {
  pipeline::StepBatch out;
  out.main = batch_to(s.main, d);
  if (s.balanced) {
    out.balanced = batch_to(*s.balanced, d);
  }
  return out;
}

// Random images of the batch's shapes, on the device (labels kept).
pipeline::StepBatch synthetic_like(const pipeline::StepBatch& s) {
  auto fake = [](const pipeline::Batch& b) {
    pipeline::Batch out = b;
    for (auto& v : out.views) {
      v = torch::randn_like(v);
    }
    return out;
  };
  pipeline::StepBatch out;
  out.main = fake(s.main);
  if (s.balanced) {
    out.balanced = fake(*s.balanced);
  }
  return out;
}

}  // namespace

BenchReport Trainer::bench(const BenchOptions& o) {
  State& s = *s_;
  if (o.steps < 1 || o.warmup < 0) {
    fail("Trainer::bench - steps must be >= 1 and warmup >= 0");
  }
  const Config& c = s.config;
  const int world = s.ctx.world_size();
  BenchReport r;
  r.steps = o.steps;
  r.steps_per_epoch = s.stream->batches_per_epoch();
  if (c.train.max_steps_per_epoch > 0) {
    r.steps_per_epoch = std::min(r.steps_per_epoch, c.train.max_steps_per_epoch);
  }
  s.train_mode();
  s.stream->set_epoch(0);
  PhaseClock clock;
  clock.cuda = s.device.is_cuda();
  int64_t step = 0;
  std::optional<pipeline::StepBatch> first;
  auto next = [&]() {
    auto b = s.stream->next();
    if (!b) {  // the epoch ended: the next one
      s.stream->set_epoch(++step);
      b = s.stream->next();
    }
    if (!b) {
      fail("Trainer::bench - the stream gives no batch");
    }
    return std::move(*b);
  };
  set_learning_rate(*s.optimizer, c.optim.lr);
  // Training keeps the NaN guard's fallback every step: so does the bench
  // (its cost is the "nan_guard" phase).
  s.guard = std::make_unique<NanGuard>();
  Checkpoint position;
  // The full pipeline: warm-up, then timed, phase by phase.
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    if (i == o.warmup) {
      clock.seconds.clear();
      s.clock = &clock;
    }
    clock.start();
    auto batch = next();
    clock.lap("loader_wait");
    auto on_device = step_to(batch, s.device);
    clock.lap("host_to_device");
    s.train_step(on_device, 0, i, &position);
    if (!first) {
      first = on_device;
      r.images_per_step = s.stream->images(batch) * world;
    }
  }
  s.clock = nullptr;
  double total = 0;
  for (auto& [name, v] : clock.seconds) {
    v /= static_cast<double>(o.steps);
    total += v;
  }
  r.phases = clock.seconds;
  r.step_seconds = total;
  r.pipeline_images_per_s = static_cast<double>(r.images_per_step) / total;

  // Model only: one synthetic batch already on the device, no sync inside.
  auto fake = synthetic_like(*first);
  for (int64_t i = 0; i < o.warmup; ++i) {
    s.train_step(fake, 0, i, &position);
  }
  clock.sync();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) {
    s.train_step(fake, 0, i, &position);
  }
  clock.sync();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  r.model_only_images_per_s =
      static_cast<double>(r.images_per_step * o.steps) / secs;

  if (o.evaluate && s.ctx.is_main()) {
    r.eval_split = c.train.select_on == "val" && s.data.val ? "val" : "test";
    const auto& d = s.data.at(r.eval_split);
    r.eval_images = static_cast<int64_t>(d->size());
    clock.sync();
    const auto e0 = std::chrono::steady_clock::now();
    s.evaluate(r.eval_split);
    clock.sync();
    r.eval_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - e0)
            .count();
    s.train_mode();
  }
  return r;
}

Trainer::Trainer(Config config, dist::Context ctx)
    : s_(std::make_unique<State>()) {
  validate(config);
  auto data = open_data(config.data, config.data.test_split);
  s_->build(std::move(config), ctx, std::move(data));
}

Trainer::Trainer(Config config, DataSplits data, dist::Context ctx)
    : s_(std::make_unique<State>()) {
  if (!data.train || !data.test) {
    fail("Trainer - the training and the test set must both be given");
  }
  validate(config);
  auto splits = with_validation(std::move(data), config.data);
  s_->build(std::move(config), ctx, std::move(splits));
}

Trainer::~Trainer() = default;

const Config& Trainer::config() const {
  return s_->config;
}

std::shared_ptr<models::NetworkImpl> Trainer::model() const {
  return s_->model;
}

eval::EvalReport Trainer::evaluate(const std::string& split) {
  return s_->evaluate(split);
}

const DataSplits& Trainer::data() const {
  return s_->data;
}

// Writes config.yaml, logs the run, and (resume) restores last.pt: weights,
// optimizer, RNG, loss scaler, history and the position in the run.
void Trainer::State::begin(hooks::Run& run, bool resume) {
  const Config& c = config;
  const int world = ctx.world_size();
  const std::string config_text = to_yaml(c);
  if (run.main) {
    folder_lock = std::make_unique<util::FolderLock>(run.out.string());
    if (int n = util::remove_stale_temp_files(run.out.string())) {
      spdlog::info(
          "removed {} temporary file(s) an interrupted write left in {}", n,
          run.out.string());
    }
    util::atomic_write_text((run.out / "config.yaml").string(), config_text);
    // The whole config goes to train.log (and config.yaml); the terminal
    // gets one line.
    util::log_to_file("config:\n" + config_text);
    spdlog::info(
        "config: {} ({}, {}, {} epochs)", (run.out / "config.yaml").string(),
        c.loss.method, c.model.arch, c.schedule.epochs);
    if (ctx.distributed()) {
      spdlog::info(
          "data parallel: {} ranks ({}), {} images per rank per step, "
          "sync_bn {}, timeout {} s",
          world,
          ctx.backend_name(),
          c.optim.batch_size / world,
          c.dist.sync_bn,
          c.dist.timeout_s);
    }
  }
  spdlog::info(
      "data: {} training images ({} classes, counts {} .. {}), {} test, {} "
      "validation{}",
      data.train->size(),
      counts.size(),
      *std::max_element(counts.begin(), counts.end()),
      *std::min_element(counts.begin(), counts.end()),
      data.test->size(),
      data.val ? data.val->size() : 0,
      data.val ? " (" + data.val_source + ")" : std::string());
  Checkpoint& state = run.state;
  if (resume) {
    // Every rank reads last.pt (a shared folder across machines).
    if (!fs::exists(run.last)) {
      fail(
          "Trainer::run - --resume: no checkpoint '{}' to resume from",
          run.last);
    }
    state = load_checkpoint(run.last, model.get(), optimizer.get(), device);
    check_resumable(state, run.last, same_but_folder(state.config_yaml, c));
    if (run.main && state.config_yaml != config_text) {
      spdlog::warn(
          "the config differs from the one saved in {}; continuing with the "
          "new one",
          run.last);
    }
    restore_rng(state);
    if (scaler) {
      auto it = state.tensors.find("loss_scaler");
      if (it != state.tensors.end()) {
        scaler->load_state(it->second);
      }
    }
    try {
      run.history = eval::history_from_json(state.history_json);
    } catch (const Error& e) {
      fail(
          "Trainer::run - --resume: '{}': field 'history_json': {}",
          run.last,
          e.what());
    }
    for (const auto& rec : run.history) {
      if (rec.epoch >= state.epoch) {
        fail(
            "Trainer::run - --resume: '{}': field 'history_json' records "
            "epoch {}, which the checkpoint (at epoch {}) has not finished",
            run.last,
            rec.epoch + 1,
            state.epoch);
      }
    }
    spdlog::info(
        "resumed from {} at epoch {} step {}", run.last, state.epoch,
        state.step_in_epoch);
  } else if (run.main) {
    // A fresh run: metrics of an earlier run in this folder go away.
    std::error_code ec;
    fs::remove(run.out / "metrics.jsonl", ec);
  }
  state.config_yaml = config_text;
  state.model_info = info.to_json();

  run.class_counts = counts;
  if (!config.model.init_from.empty()) {
    run.init_from_crc32 = fmt::format("{:08x}", init_from.crc32);
    run.init_from_tensors = init_from.tensors;
  }
  run.class_names = data.train->class_names();
  run.has_val = data.val != nullptr;
  run.val_source = data.val_source;
  run.precision = precision->amp() == "none"
      ? std::string("float32")
      : precision->amp() + " autocast (heads float32)";
  run.channels_last = precision->channels_last();
  run.device = device.str();
  run.threads = torch::get_num_threads();
  run.processes = ctx.world_size();
}

// Rank 0 writes (atomically); the others wait for it on a barrier, so no
// rank runs ahead of a checkpoint that may fail.
void Trainer::State::capture_state(
    hooks::Run& run,
    int64_t epoch,
    int64_t step_in_epoch) {
  Checkpoint& st = run.state;
  st.epoch = epoch;
  st.step_in_epoch = step_in_epoch;
  for (const auto& [name, v] :
       to_global_state(stream->state(), ctx.world_size())) {
    st.samplers[name] = v;
  }
  st.history_json = eval::history_to_json(run.history);
  capture_rng(st);
  if (scaler) {
    st.tensors["loss_scaler"] = scaler->state();
  }
}

void Trainer::State::save_last(
    hooks::Run& run,
    int64_t epoch,
    int64_t step_in_epoch) {
  capture_state(run, epoch, step_in_epoch);
  if (run.main) {
    save_checkpoint(run.last, *model, optimizer.get(), run.state);
  }
  ctx.barrier();
}

void Trainer::State::save_as(hooks::Run& run, const std::string& path) {
  save_checkpoint(path, *model, optimizer.get(), run.state);
}

eval::EmbeddedEval Trainer::State::evaluate_embedded(
    const std::string& path,
    const std::string& split) {
  const data::DatasetPtr& d = data.at(split);
  if (path.empty()) {
    return eval::evaluate_with_embeddings(
        *model, *d, *eval_recipe, config.train.eval_batch_size, counts);
  }
  auto saved = load_saved_model(path, device.str());
  return eval::evaluate_with_embeddings(
      *saved.model, *d, *eval_recipe, config.train.eval_batch_size, counts);
}

eval::EvalReport Trainer::State::evaluate_checkpoint(
    const std::string& path,
    const std::string& split) {
  auto saved = load_saved_model(path, device.str());
  return evaluate_on(*saved.model, split);
}

// One epoch from `first_step`; false when a stop signal ended it (last.pt
// written at the step reached).
bool Trainer::State::train_epoch(
    hooks::Run& run,
    hooks::Hooks& hooks,
    int64_t epoch,
    int64_t first_step) {
  const Config& c = config;
  const int world = ctx.world_size();
  Checkpoint& state = run.state;
  const int64_t spe = steps_per_epoch();
  for (auto& h : hooks) {
    h->epoch_begin(run, epoch, spe);
  }
  const EpochEnv epoch_env{epoch, spe, first_step, model.get()};
  method->epoch_begin(epoch_env);
  std::map<std::string, eval::AverageMeter> meters;
  auto t0 = std::chrono::steady_clock::now();
  int64_t images = 0;
  double lr = 0;
  for (int64_t step = first_step; step < spe;) {
    const auto step_start = std::chrono::steady_clock::now();
    // Before the batch is drawn: the sampler position of this step.
    const Checkpoint before = position(run, epoch, step);
    auto batch = stream->next();
    if (!batch) {
      break;
    }
    lr = learning_rate(c.schedule, c.optim.lr, epoch, step, spe);
    set_learning_rate(*optimizer, lr);
    std::map<std::string, double> values;
    try {
      values = train_step(
          *batch, epoch, state.global_step, &before, run.history.size());
    } catch (const util::NonFiniteLoss& e) {
      diverged(run, e.what(), /*all_ranks=*/true);
    }
    const int64_t b = batch->main.labels.size(0) * world;
    for (const auto& [k, v] : values) {
      meters[k].add(v, b);
    }
    const int64_t step_images = stream->images(*batch) * world;
    images += step_images;
    ++step;
    ++state.global_step;
    hooks::StepInfo info{epoch, step, spe, lr, &values};
    info.images = step_images;
    info.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - step_start)
                       .count();
    try {
      for (auto& h : hooks) {
        h->step_end(run, info);  // a mid-epoch last.pt checks the weights
      }
    } catch (const util::NonFiniteState& e) {
      diverged(run, e.what(), /*all_ranks=*/false);
    }
    bool stop = false;
    for (auto& h : hooks) {
      stop = h->stop_after(run, info) || stop;
    }
    if (stop) {
      run.save_last(epoch, step);
      spdlog::warn(
          "stopped by signal {} at epoch {} step {}; checkpoint {} written. "
          "Resume with: ltcl train --config <same config> --out {} --resume",
          util::stop_signal(),
          epoch,
          step,
          run.last,
          run.out.string());
      return false;
    }
  }
  method->epoch_end(epoch_env);
  const double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
  eval::EpochRecord rec;
  rec.epoch = epoch;
  rec.lr = lr;
  rec.images_per_s = secs > 0 ? images / secs : 0;
  for (const auto& [k, m] : meters) {
    rec.losses[k] = m.value();
  }
  try {
    // The evaluation checks the logits, last.pt the weights: non-finite
    // ones mean the epoch's last update diverged.
    for (auto& h : hooks) {
      h->epoch_end(run, rec);
    }
    run.history.push_back(rec);
    stream->set_epoch(epoch + 1);
    for (auto& h : hooks) {
      h->epoch_recorded(run, rec);
    }
  } catch (const util::NonFiniteState& e) {
    diverged(run, e.what(), /*all_ranks=*/false);
  }
  return true;
}

int64_t Trainer::State::steps_per_epoch() const {
  int64_t spe = stream->batches_per_epoch();
  if (config.train.max_steps_per_epoch > 0) {
    spe = std::min(spe, config.train.max_steps_per_epoch);
  }
  if (spe < 1) {
    fail(
        "Trainer::run - no full batch in an epoch ({} images, batch {})",
        data.train->size(),
        config.optim.batch_size);
  }
  return spe;
}

void Trainer::State::check_resumable(
    const Checkpoint& st,
    const std::string& path,
    bool same_config) const {
  const int64_t epochs = config.schedule.epochs;
  const int64_t spe = steps_per_epoch();
  if (st.epoch > epochs) {
    fail(
        "Trainer::run - --resume: '{}': field 'epoch' is {}, beyond "
        "schedule.epochs {}",
        path,
        st.epoch,
        epochs);
  }
  if (st.epoch < epochs ? st.step_in_epoch >= spe : st.step_in_epoch != 0) {
    fail(
        "Trainer::run - --resume: '{}': field 'step_in_epoch' is {}, but an "
        "epoch has {} steps{}",
        path,
        st.step_in_epoch,
        spe,
        st.epoch == epochs ? " and the run is finished" : "");
  }
  // With the same config every epoch has `spe` steps; with another one
  // (e.g. a new batch size) at least one.
  const int64_t done = st.epoch * spe + st.step_in_epoch;
  if (same_config ? st.global_step != done
                  : st.global_step < st.epoch + st.step_in_epoch ||
              st.global_step > kMaxResumedSteps) {
    fail(
        "Trainer::run - --resume: '{}': field 'global_step' is {}, which "
        "does not agree with epoch {} and step_in_epoch {} ({} steps an "
        "epoch)",
        path,
        st.global_step,
        st.epoch,
        st.step_in_epoch,
        spe);
  }
  for (const auto& [name, v] : stream->state()) {
    auto it = st.samplers.find(name);
    if (it == st.samplers.end()) {
      fail(
          "Trainer::run - --resume: '{}': record 'sampler/{}' is missing (the "
          "position in the epoch's sample order)",
          path,
          name);
    }
    if (it->second.size() != v.size() || it->second[0] < 0 ||
        it->second[1] < 0 ||
        (st.step_in_epoch > 0 && it->second[0] != st.epoch)) {
      fail(
          "Trainer::run - --resume: '{}': record 'sampler/{}' ({}) is not a "
          "position in epoch {}",
          path,
          name,
          fmt::join(it->second, ", "),
          st.epoch);
    }
  }
  check_rng(st, path);
  if (scaler && same_config && !st.tensors.count("loss_scaler")) {
    fail(
        "Trainer::run - --resume: '{}': record 'tensor/loss_scaler' is "
        "missing (train.amp fp16's loss scale)",
        path);
  }
}

Checkpoint Trainer::State::position(
    const hooks::Run& run,
    int64_t epoch,
    int64_t step) {
  Checkpoint p;
  p.epoch = epoch;
  p.step_in_epoch = step;
  p.global_step = run.state.global_step;
  p.best_metric = run.state.best_metric;
  p.best_epoch = run.state.best_epoch;
  for (const auto& [name, v] :
       to_global_state(stream->state(), ctx.world_size())) {
    p.samplers[name] = v;
  }
  capture_rng(p);
  if (scaler) {
    p.tensors["loss_scaler"] = scaler->state();
  }
  return p;
}

void Trainer::State::diverged(
    hooks::Run& run,
    const std::string& what,
    bool all_ranks) {
  if (!guard || !guard->valid()) {
    // Not one finite step since the start: no state to go back to.
    fail(
        "{}. It is the first step from {}, so no update caused it: a lower "
        "optim.lr cannot help; check the data and the config{}",
        what,
        resumed ? "the checkpoint resumed from" : "the initial weights",
        resumed ? fmt::format(" ({} is kept unchanged)", run.last)
                : std::string());
  }
  const Checkpoint& p = guard->restore(*model, *optimizer);
  Checkpoint& st = run.state;
  st.epoch = p.epoch;
  st.step_in_epoch = p.step_in_epoch;
  st.global_step = p.global_step;
  st.best_metric = p.best_metric;
  st.best_epoch = p.best_epoch;
  st.samplers = p.samplers;
  st.torch_rng = p.torch_rng;
  st.cuda_rng = p.cuda_rng;
  st.tensors = p.tensors;
  run.history.resize(guard->history_size());
  st.history_json = eval::history_to_json(run.history);
  if (run.main) {
    save_checkpoint(run.last, *model, optimizer.get(), st);
  }
  if (all_ranks) {
    ctx.barrier();
  }
  fail(
      "{}. Saved as {}: the state after {} step(s) ({} of epoch {}), before "
      "the update that diverged. Continue from it with a lower learning "
      "rate: ltcl train --config <same config> --out {} --resume --set "
      "optim.lr=<below {}>",
      what,
      run.last,
      p.global_step,
      p.step_in_epoch,
      p.epoch + 1,
      run.out.string(),
      config.optim.lr);
}

TrainResult Trainer::run(bool resume) {
  State& s = *s_;
  const Config& c = s.config;
  hooks::Run run{c, s.ctx, s};
  run.main = s.ctx.is_main();
  run.out = c.output.dir;
  run.last = (run.out / kLastCheckpoint).string();
  run.best = (run.out / kBestCheckpoint).string();
  // Installed by the ltcl program already when it runs this (a request made
  // while the data was opened is kept); removed on every way out.
  util::install_stop_handlers();
  struct RemoveHandlers {
    ~RemoveHandlers() { util::remove_stop_handlers(); }
  } remove_handlers;
  s.begin(run, resume);
  s.guard = std::make_unique<NanGuard>();
  s.resumed = resume;
  hooks::Hooks hooks = hooks::standard_hooks(c);
  s.method->add_run_hooks(hooks);
  TrainResult result;
  result.out_dir = run.out.string();
  s.train_mode();
  const int64_t first_epoch = run.state.epoch;
  if (hooks::stop_agreed(s.ctx)) {
    // Stopped before the first step: a fresh run leaves its initial state
    // (weights, random state) as last.pt, so --resume continues it exactly;
    // a resumed one keeps the last.pt it started from.
    if (!resume) {
      run.save_last(first_epoch, 0);
    }
    spdlog::warn(
        "stopped by signal {} before the first step; checkpoint {} is the "
        "run's starting point. Resume with: ltcl train --config <same "
        "config> --out {} --resume",
        util::stop_signal(),
        run.last,
        run.out.string());
    result.stopped = true;
    result.epochs_done = first_epoch;
    result.global_step = run.state.global_step;
    return result;
  }
  for (int64_t epoch = first_epoch; epoch < c.schedule.epochs; ++epoch) {
    s.stream->set_epoch(epoch);
    int64_t first_step = 0;
    if (resume && epoch == first_epoch && run.state.step_in_epoch > 0) {
      s.stream->load_state(
          to_local_state(run.state.samplers, s.ctx.world_size()));
      first_step = run.state.step_in_epoch;
    }
    if (!s.train_epoch(run, hooks, epoch, first_step)) {
      result.stopped = true;
      result.epochs_done = epoch;
      result.global_step = run.state.global_step;
      return result;
    }
    result.epochs_done = epoch + 1;
  }
  if (run.main) {
    // The handlers stay: a signal now only lets the reports finish (each
    // file is written atomically; the run is complete on disk).
    util::debug_term_at("report");
    try {
      for (auto& h : hooks) {
        h->run_end(run);  // evaluates the final model
      }
    } catch (const util::NonFiniteState& e) {
      s.diverged(run, e.what(), /*all_ranks=*/false);
    }
    if (util::stop_requested()) {
      spdlog::warn(
          "signal {} arrived during the final evaluation; the reports were "
          "finished first and the run is complete",
          util::stop_signal());
    }
    result.report = run.report;
    result.last_report = run.last_report;
  }
  result.epochs_done = c.schedule.epochs;
  result.global_step = run.state.global_step;
  // Rank 0's final evaluation and reports done (a failure there shows up on
  // the other ranks as a barrier error rather than a silent exit).
  s.ctx.barrier();
  return result;
}

}  // namespace ltcl::train
