#include "ltcl/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "ltcl/pipeline/multi_view.h"
#include "ltcl/augment/recipe.h"
#include "ltcl/data/cached.h"
#include "ltcl/pipeline/loader.h"
#include "ltcl/data/open.h"
#include "ltcl/data/sampler.h"
#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/dist/sync_batchnorm.h"
#include "ltcl/eval/plot.h"
#include "ltcl/losses/classification.h"
#include "ltcl/losses/contrastive.h"
#include "ltcl/losses/hybrid.h"
#include "ltcl/losses/rescom.h"
#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/loss_scaler.h"
#include "ltcl/train/precision.h"
#include "ltcl/train/schedule.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/guard.h"
#include "ltcl/util/progress.h"
#include "ltcl/util/signals.h"

namespace ltcl::train {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

torch::Device pick_device(const std::string& name) {
  if (name == "cpu") {
    return torch::kCPU;
  }
  bool cuda = torch::cuda::is_available();
  if (name == "cuda" && !cuda) {
    fail("train.device 'cuda': this build or machine has no CUDA device");
  }
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

data::DatasetSpec spec_of(const DataConfig& c, const std::string& split) {
  data::DatasetSpec s;
  s.kind = c.dataset;
  s.root = c.root;
  s.split = split;
  if (c.dataset == "mnist" || c.dataset == "fashion_mnist") {
    s.kind = "idx";
    s.idx_names = c.dataset == "mnist" ? "digits" : "fashion";
    if (s.root.empty() && c.dataset == "fashion_mnist") {
      s.root = kFashionMnistRoot;
    }
  }
  if (s.root.empty()) {
    fail("data.root: dataset '{}' needs a data folder (data.root)", c.dataset);
  }
  if (c.dataset == "list") {
    const std::string& list = split == c.train_split ? c.train_list
                                                     : c.test_list;
    s.list_file = fs::path(list).is_absolute()
        ? list
        : (fs::path(c.root) / list).string();
  }
  return s;
}

std::string stats_name(const DataConfig& c) {
  if (c.dataset == "list" || c.dataset == "folder") {
    return c.root.find("imagenet") != std::string::npos ? "imagenet"
                                                        : c.dataset;
  }
  return c.dataset;
}

// First k samples of each class, in dataset order.
data::DatasetPtr first_per_class(data::DatasetPtr d, int64_t k) {
  std::vector<int64_t> taken(static_cast<size_t>(d->num_classes()), 0);
  std::vector<size_t> keep;
  for (size_t i = 0; i < d->size(); ++i) {
    int64_t y = d->label(i);
    if (taken[y] < k) {
      ++taken[y];
      keep.push_back(i);
    }
  }
  return std::make_shared<data::Subset>(d, keep);
}

// Stacks eval-recipe images of `indices` into [N, C, H, W].
torch::Tensor eval_batch(
    const pipeline::MultiViewDataset& views,
    const std::vector<int64_t>& indices,
    torch::Tensor* labels) {
  const auto& r = views.view(0);
  auto x = torch::empty(
      {static_cast<int64_t>(indices.size()), r.channels, r.height, r.width});
  auto y = torch::empty({static_cast<int64_t>(indices.size())}, torch::kLong);
  const int64_t per = static_cast<int64_t>(r.channels) * r.height * r.width;
  float* xp = x.data_ptr<float>();
  int64_t* yp = y.data_ptr<int64_t>();
  at::parallel_for(0, static_cast<int64_t>(indices.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* out = xp + i * per;
      pipeline::DrawKey key;
      key.position = indices[i];
      key.index = indices[i];
      yp[i] = views.fill(key, &out);
    }
  });
  *labels = y;
  return x;
}

// Hybrid-SC / Hybrid-PSC: two batch streams (instance-balanced for the
// contrastive branch, class-balanced for the classifier).
bool is_two_branch_method(const std::string& m) {
  return m == "hybrid_sc" || m == "hybrid_psc";
}

// Method state that lives with the model, registered as submodules of the
// network so that checkpoints, .to(device) and the optimizer see it:
// ResCom's queue (buffers) as `rescom_queue`, Hybrid-PSC's prototypes
// (parameters) as `psc_prototypes`. Called before the optimizer is built
// and by load_saved_model, so a checkpoint loads into the same layout.
void attach_method_modules(
    models::Network& net,
    const Config& c,
    int64_t num_classes,
    models::ClassBalancedQueue* queue = nullptr,
    models::PrototypeBank* prototypes = nullptr) {
  if (c.loss.method == "rescom") {
    auto q = net->register_module(
        "rescom_queue",
        models::ClassBalancedQueue(
            models::ClassBalancedQueueOptions(num_classes, c.model.proj_dim)
                .per_class(c.loss.rescom_queue_size)));
    if (queue) {
      *queue = models::ClassBalancedQueue(q);
    }
  } else if (c.loss.method == "hybrid_psc") {
    auto p = net->register_module(
        "psc_prototypes", models::PrototypeBank(num_classes, c.model.proj_dim));
    if (prototypes) {
      *prototypes = models::PrototypeBank(p);
    }
  }
}

// Hybrid's two streams over the training set: the instance-balanced one
// draws views 1-2 (contrastive recipes), the class-balanced one view 0
// (classification recipe); both batch_size images a step, drop_last.
std::unique_ptr<pipeline::PairedLoader> make_paired_loader(
    const Config& c,
    const data::DatasetPtr& train,
    const std::vector<augment::Recipe>& recipes,
    const data::SamplerOptions& so,
    int world) {
  auto instance = std::make_shared<pipeline::MultiViewDataset>(
      train, std::vector<augment::Recipe>{recipes[1], recipes[2]});
  auto balanced = std::make_shared<pipeline::MultiViewDataset>(
      train, std::vector<augment::Recipe>{recipes[0]});
  auto sampler = std::make_shared<data::PairedSampler>(train->labels(), so);
  return std::make_unique<pipeline::PairedLoader>(
      instance,
      balanced,
      sampler,
      pipeline::LoaderOptions()
          .batch_size(c.optim.batch_size / world)
          .workers(static_cast<int>(c.data.workers))
          .drop_last(true)
          .seed(static_cast<uint64_t>(c.train.seed)));
}

models::NetworkOptions network_options(
    const Config& c,
    int64_t num_classes,
    int64_t channels) {
  bool contrastive = is_contrastive_core_method(c.loss.method);
  bool projected = contrastive || is_two_branch_method(c.loss.method) ||
      c.loss.method == "rescom";
  return models::NetworkOptions()
      .arch(c.model.arch)
      .num_classes(num_classes)
      .in_channels(c.model.in_channels > 0 ? c.model.in_channels : channels)
      .classifier(c.model.classifier)
      .cosine_scale(c.model.cosine_scale)
      .proj_hidden(c.model.proj_hidden)
      .proj_dim(projected ? c.model.proj_dim : 0)
      .prototype_head(contrastive && c.loss.class_complement);
}

augment::DatasetStats stats_of(const Config& c, const data::Dataset& d) {
  return augment::DatasetStats::of(stats_name(c.data), d);
}

struct EpochRecord {
  int64_t epoch = 0;
  double lr = 0;
  double images_per_s = 0;
  std::map<std::string, double> losses;
  std::map<std::string, double> accuracy;  // top1/many/medium/few if eval'd
};

nlohmann::json history_json(const std::vector<EpochRecord>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : h) {
    nlohmann::json j;
    j["epoch"] = r.epoch;
    j["lr"] = r.lr;
    j["images_per_s"] = r.images_per_s;
    j["losses"] = r.losses;
    nlohmann::json acc = nlohmann::json::object();
    for (const auto& [k, v] : r.accuracy) {
      acc[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    }
    j["accuracy"] = acc;
    a.push_back(j);
  }
  return a;
}

std::vector<EpochRecord> history_from(const std::string& text) {
  std::vector<EpochRecord> h;
  if (text.empty()) {
    return h;
  }
  for (const auto& j : nlohmann::json::parse(text)) {
    EpochRecord r;
    r.epoch = j["epoch"];
    r.lr = j["lr"];
    r.images_per_s = j["images_per_s"];
    r.losses = j["losses"].get<std::map<std::string, double>>();
    for (const auto& [k, v] : j["accuracy"].items()) {
      r.accuracy[k] = v.is_null() ? NAN : v.get<double>();
    }
    h.push_back(r);
  }
  return h;
}

void write_curves(const std::string& path, const std::vector<EpochRecord>& h) {
  eval::Panel loss;
  loss.title = "training loss";
  loss.y_label = "loss";
  eval::Panel acc;
  acc.title = "test accuracy";
  acc.y_label = "top-1 %";
  acc.y_min = 0;
  acc.y_max = 100;
  std::map<std::string, eval::Series> ls, as;
  for (const auto& r : h) {
    for (const auto& [k, v] : r.losses) {
      ls[k].name = k;
      ls[k].x.push_back(static_cast<double>(r.epoch + 1));
      ls[k].y.push_back(v);
    }
    for (const auto& [k, v] : r.accuracy) {
      as[k].name = k;
      as[k].x.push_back(static_cast<double>(r.epoch + 1));
      as[k].y.push_back(v);
    }
  }
  for (auto& [k, s] : ls) {
    loss.series.push_back(s);
  }
  for (const char* k : {"top1", "many", "medium", "few"}) {
    if (as.count(k)) {
      acc.series.push_back(as[k]);
    }
  }
  eval::write_panels_plot(path, {loss, acc});
}

}  // namespace

DataSplits open_data(const DataConfig& c, const std::string& test_split) {
  DataSplits d;
  auto train = data::open_dataset(spec_of(c, c.train_split));
  if (c.profile != "none" && c.imbalance_factor > 1) {
    data::LongTailSpec lt;
    lt.profile = c.profile;
    lt.imbalance_factor = c.imbalance_factor;
    lt.seed = static_cast<uint32_t>(c.seed);
    lt.n_max = static_cast<double>(c.n_max);
    train = data::make_long_tailed(train, lt);
  }
  auto test = data::open_dataset(spec_of(c, test_split));
  if (c.test_per_class > 0) {
    test = first_per_class(test, c.test_per_class);
  }
  if (c.cache) {
    train = std::make_shared<data::CachedDataset>(train);
  }
  if (test->num_classes() != train->num_classes()) {
    fail(
        "open_data - the test split has {} classes, the training split {}",
        test->num_classes(),
        train->num_classes());
  }
  d.train = train;
  d.test = test;
  return d;
}

eval::EvalReport evaluate_model(
    models::NetworkImpl& model,
    const data::Dataset& test,
    const Config& c,
    const std::vector<int64_t>& train_counts) {
  auto stats = augment::DatasetStats::of(stats_name(c.data), test);
  auto views = pipeline::MultiViewDataset(
      std::shared_ptr<const data::Dataset>(&test, [](const data::Dataset*) {}),
      {augment::make_recipe(c.data.eval_recipe, stats)});
  torch::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  auto device = model.parameters().front().device();
  eval::ConfusionMeter confusion(test.num_classes());
  const int64_t n = static_cast<int64_t>(test.size());
  for (int64_t start = 0; start < n; start += c.train.eval_batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + c.train.eval_batch_size);
         ++i) {
      idx.push_back(i);
    }
    torch::Tensor y;
    auto x = eval_batch(views, idx, &y).to(device);
    confusion.add(model.forward(x).logits, y);
  }
  model.train(was_training);
  return eval::make_report(confusion, train_counts, test.class_names());
}

void write_embeddings_csv(
    const std::string& path,
    models::NetworkImpl& model,
    const data::Dataset& d,
    const Config& c) {
  auto stats = augment::DatasetStats::of(stats_name(c.data), d);
  auto views = pipeline::MultiViewDataset(
      std::shared_ptr<const data::Dataset>(&d, [](const data::Dataset*) {}),
      {augment::make_recipe(c.data.eval_recipe, stats)});
  torch::NoGradGuard no_grad;
  model.eval();
  auto device = model.parameters().front().device();
  std::string out;
  const int64_t n = static_cast<int64_t>(d.size());
  bool header = false;
  for (int64_t start = 0; start < n; start += c.train.eval_batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + c.train.eval_batch_size);
         ++i) {
      idx.push_back(i);
    }
    torch::Tensor y;
    auto o = model.forward(eval_batch(views, idx, &y).to(device));
    auto f = o.features.to(torch::kCPU).contiguous();
    auto z = o.embeddings.defined() ? o.embeddings.to(torch::kCPU).contiguous()
                                    : torch::empty({f.size(0), 0});
    if (!header) {
      out += "label";
      for (int64_t j = 0; j < f.size(1); ++j) {
        out += fmt::format(",f{}", j);
      }
      for (int64_t j = 0; j < z.size(1); ++j) {
        out += fmt::format(",z{}", j);
      }
      out += '\n';
      header = true;
    }
    auto fa = f.accessor<float, 2>();
    auto za = z.accessor<float, 2>();
    auto ya = y.accessor<int64_t, 1>();
    for (int64_t i = 0; i < f.size(0); ++i) {
      out += std::to_string(ya[i]);
      for (int64_t j = 0; j < f.size(1); ++j) {
        out += fmt::format(",{:.6g}", fa[i][j]);
      }
      for (int64_t j = 0; j < z.size(1); ++j) {
        out += fmt::format(",{:.6g}", za[i][j]);
      }
      out += '\n';
    }
  }
  util::atomic_write_text(path, out);
}

namespace {

// Test hooks (documented in docs/training.md): after global step N the
// process raises SIGKILL (LTCL_DEBUG_KILL_AT_STEP) or SIGTERM
// (LTCL_DEBUG_TERM_AT_STEP) on itself, so that tests can cut a run at an
// exact step. 0 / unset: off.
// In a data-parallel job, LTCL_DEBUG_KILL_RANK=r restricts both hooks to
// rank r (unset: every rank).
int64_t env_step(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : 0;
}

bool debug_hook_rank(int rank) {
  const char* v = std::getenv("LTCL_DEBUG_KILL_RANK");
  return v == nullptr || std::atoi(v) == rank;
}

// Sampler states in checkpoints are GLOBAL: {epoch, draws taken by all ranks
// together, ...} (pairs of epoch / position for multi-sampler states). Rank r
// of W has taken position / W draws of the epoch's global sequence (ranks
// take draws r, r + W, ...; every rank advances by the same local batch per
// step), so a state maps to any world size W' that divides the global
// position -- always the case at a step boundary, since the global batch is
// a multiple of W'.
std::vector<int64_t> to_global_state(std::vector<int64_t> v, int world) {
  for (size_t i = 1; i < v.size(); i += 2) {
    v[i] *= world;
  }
  return v;
}

std::vector<int64_t> to_local_state(std::vector<int64_t> v, int world) {
  for (size_t i = 1; i < v.size(); i += 2) {
    if (v[i] % world != 0) {
      fail(
          "Trainer::run - --resume: the checkpoint's sampler position {} is "
          "not divisible by the world size {}",
          v[i],
          world);
    }
    v[i] /= world;
  }
  return v;
}

}  // namespace

// The contrastive losses see the whole global batch: every rank's features
// [B_local, V, D] and labels [B_local], concatenated in rank order. The
// features' gradient flows back to this rank's slice, summed over the ranks'
// losses (all_gather_with_grad); each rank then computes the loss of the
// whole global batch, and averaging the parameter gradients over ranks gives
// exactly the single-process gradient (docs/distributed.md). World 1: the
// inputs unchanged.
ContrastiveBatch gather_for_contrastive(
    const dist::Context& ctx,
    const torch::Tensor& features,
    const torch::Tensor& labels) {
  if (!ctx.distributed()) {
    return {features, labels};
  }
  return {dist::all_gather_with_grad(ctx, features), ctx.all_gather(labels)};
}

// The detached variant for memory queues (ResCom): the first-view embeddings
// and labels of every rank, no gradient, in the global sampler order, so
// that each rank's queue receives the whole global batch in the order one
// process would.
ContrastiveBatch gather_for_queue(
    const dist::Context& ctx,
    const torch::Tensor& embeddings,
    const torch::Tensor& labels) {
  if (!ctx.distributed()) {
    return {embeddings.detach(), labels};
  }
  // all_gather returns rank-major rows; local row i of rank r is the global
  // batch's row i * W + r (ranks take interleaved draws), so a [W, B] ->
  // [B, W] transpose restores the order one process would see: the FIFO
  // queue then keeps the same keys in the same slots for any world size.
  const int64_t w = ctx.world_size();
  auto e = ctx.all_gather(embeddings.detach().contiguous());
  auto l = ctx.all_gather(labels.contiguous());
  const int64_t b = embeddings.size(0);
  return {e.view({w, b, -1}).transpose(0, 1).reshape({w * b, -1}),
          l.view({w, b}).transpose(0, 1).reshape({w * b})};
}

struct Trainer::State {
  int64_t kill_at = env_step("LTCL_DEBUG_KILL_AT_STEP");
  int64_t term_at = env_step("LTCL_DEBUG_TERM_AT_STEP");
  Config config;
  dist::Context ctx;
  std::unique_ptr<dist::GradReducer> reducer;
  torch::Device device{torch::kCPU};
  DataSplits data;
  std::vector<int64_t> counts;
  torch::Tensor counts_t;
  torch::Tensor drw_weights;
  models::Network model{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
  // train.amp / train.channels_last of the forward pass; fp16's scaler.
  std::unique_ptr<Precision> precision;
  std::unique_ptr<LossScaler> scaler;
  std::shared_ptr<pipeline::MultiViewDataset> views;
  data::SamplerPtr sampler;
  std::unique_ptr<pipeline::Loader> loader;
  // Hybrid: the two streams replace `loader` (see make_paired_loader).
  std::unique_ptr<pipeline::PairedLoader> paired;
  // ResCom: the queue (a submodule of `model`), the class-balanced weights
  // and the first-view embeddings of the last step, enqueued after the
  // optimizer step (the loss's graph holds the keys until backward).
  models::ClassBalancedQueue queue{nullptr};
  torch::Tensor cb_weights;
  torch::Tensor pending_keys, pending_labels;
  // Hybrid-PSC: the learnable prototypes (a submodule of `model`).
  models::PrototypeBank prototypes{nullptr};

  // One step's input: the batch, and Hybrid's class-balanced batch.
  struct StepBatch {
    pipeline::Batch main;  // Hybrid: the instance-balanced (contrastive) batch
    std::optional<pipeline::Batch> balanced;
  };

  void set_epoch(int64_t epoch) {
    if (paired) {
      paired->set_epoch(epoch);
    } else {
      loader->set_epoch(epoch);
    }
  }
  int64_t batches_per_epoch() const {
    return paired ? paired->batches_per_epoch() : loader->batches_per_epoch();
  }
  std::optional<StepBatch> next_batch() {
    if (paired) {
      auto p = paired->next();
      if (!p) {
        return std::nullopt;
      }
      return StepBatch{std::move(p->first), std::move(p->second)};
    }
    auto b = loader->next();
    if (!b) {
      return std::nullopt;
    }
    return StepBatch{std::move(*b), std::nullopt};
  }
  // Sampler positions: "train" (Hybrid: the instance stream) and, for
  // Hybrid, "balanced" (the class-balanced stream).
  // Stored in the global form (to_global_state), so --resume works for
  // any world size.
  void save_samplers(Checkpoint& state) const {
    const int world = ctx.world_size();
    if (paired) {
      auto v = to_global_state(paired->state(), world);
      state.samplers["train"] = {v[0], v[1]};
      state.samplers["balanced"] = {v[2], v[3]};
    } else {
      state.samplers["train"] =
          to_global_state(loader->state().to_vector(), world);
    }
  }
  void load_samplers(const Checkpoint& state) {
    auto train = state.samplers.find("train");
    if (train == state.samplers.end()) {
      fail("Trainer::run - the checkpoint has no 'train' sampler state");
    }
    const int world = ctx.world_size();
    if (!paired) {
      loader->load_state(data::SamplerState::from_vector(
          to_local_state(train->second, world)));
      return;
    }
    auto balanced = state.samplers.find("balanced");
    if (balanced == state.samplers.end()) {
      fail(
          "Trainer::run - loss.method '{}' needs the 'balanced' sampler "
          "state, which the checkpoint lacks",
          config.loss.method);
    }
    std::vector<int64_t> v = train->second;
    v.insert(v.end(), balanced->second.begin(), balanced->second.end());
    paired->load_state(to_local_state(v, world));
  }

  // After the optimizer step: ResCom enqueues the step's detached first-view
  // embeddings (FIFO per class).
  void after_step() {
    if (pending_keys.defined()) {
      queue->enqueue(pending_keys, pending_labels);
      pending_keys = torch::Tensor();
      pending_labels = torch::Tensor();
    }
  }

  // ResCom (METHODS.md section 5): views 0 and 1 of each image in one
  // forward pass; class-balanced contrastive loss with hard mining against
  // the queue on the two views' embeddings, Siamese Balanced Softmax on the
  // two views' logits; total = BS-CE + rescom_weight * contrastive.
  std::map<std::string, torch::Tensor> rescom_step(const pipeline::Batch& batch) {
    const auto& c = config.loss;
    auto y = batch.labels.to(device);
    const int64_t B = y.size(0);
    auto o = precision->forward(*model, torch::cat(batch.views, 0));
    auto z = torch::stack(
        {o.embeddings.slice(0, 0, B), o.embeddings.slice(0, B, 2 * B)}, 1);
    // Global batch for the contrastive term (identity in one process).
    auto global = gather_for_contrastive(ctx, z, y);
    auto con = losses::functional::rescom_contrastive_loss(
        global.features,
        global.labels,
        queue->keys,
        queue->valid_mask(),
        cb_weights,
        losses::ResComLossOptions()
            .temperature(c.rescom_tau)
            .k_pos(c.rescom_k_pos)
            .k_neg(c.rescom_k_neg));
    auto cls = losses::functional::siamese_balanced_softmax(
        o.logits.slice(0, 0, B), o.logits.slice(0, B, 2 * B), y, counts_t);
    // Every rank enqueues the first views of the whole global batch, in the
    // global sampler order, so the ranks' queues stay identical.
    auto keys = gather_for_queue(ctx, z.select(1, 0), y);
    pending_keys = keys.features;
    pending_labels = keys.labels;
    std::map<std::string, torch::Tensor> out;
    out["bs_ce"] = cls;
    out["contrastive"] = con;
    out["total"] = cls + c.rescom_weight * con;
    return out;
  }

  // Hybrid-SC / PSC (METHODS.md section 6): the instance batch's two
  // contrastive views and the class-balanced batch's classification view in
  // one forward pass of 3B images. Contrastive branch: SupCon (hybrid_sc) or
  // PSC against the learnable prototypes (hybrid_psc; both views are
  // anchors, mean over the 2B of them) on the projections; classifier
  // branch: CE on the balanced batch's logits. total = alpha * contrastive +
  // (1 - alpha) * CE, alpha = 1 - (epoch / epochs)^2 with the 0-based epoch
  // (constant within an epoch: 1 in the first, 1 - ((T-1)/T)^2 in the last).
  std::map<std::string, torch::Tensor> hybrid_step(
      const pipeline::Batch& instance,
      const pipeline::Batch& balanced,
      int64_t epoch) {
    const auto& c = config.loss;
    auto yi = instance.labels.to(device);
    auto yb = balanced.labels.to(device);
    const int64_t B = yi.size(0);
    auto x = torch::cat(
        {instance.views[0], instance.views[1], balanced.views[0]}, 0);
    auto o = precision->forward(*model, x);
    torch::Tensor con;
    if (c.method == "hybrid_sc") {
      auto z = torch::stack(
          {o.embeddings.slice(0, 0, B), o.embeddings.slice(0, B, 2 * B)}, 1);
      auto global = gather_for_contrastive(ctx, z, yi);
      con = losses::functional::contrastive_loss(
          global.features, global.labels, torch::Tensor(), counts_t,
          losses::supcon_options(c.temperature));
    } else {
      con = losses::functional::psc_loss(
          o.embeddings.slice(0, 0, 2 * B),
          torch::cat({yi, yi}, 0),
          prototypes->weight,
          losses::PSCLossOptions().temperature(c.psc_tau));
    }
    auto ce = losses::functional::cross_entropy(
        o.logits.slice(0, 2 * B, o.logits.size(0)), yb);
    const double a = losses::hybrid_alpha(
        static_cast<double>(epoch), static_cast<double>(config.schedule.epochs));
    std::map<std::string, torch::Tensor> out;
    out["contrastive"] = con;
    out["ce"] = ce;
    out["total"] = a * con + (1.0 - a) * ce;
    return out;
  }

  // Loss components of one step; "total" is backpropagated.
  std::map<std::string, torch::Tensor> step(
      const StepBatch& input,
      int64_t epoch) {
    const auto& c = config.loss;
    if (c.method == "rescom") {
      return rescom_step(input.main);
    }
    if (is_two_branch_method(c.method)) {
      return hybrid_step(input.main, *input.balanced, epoch);
    }
    const pipeline::Batch& batch = input.main;
    auto y = batch.labels.to(device);
    std::map<std::string, torch::Tensor> out;
    if (!is_contrastive_core_method(c.method)) {
      auto o = precision->forward(*model, batch.views[0]);
      torch::Tensor l;
      namespace F = losses::functional;
      if (c.method == "ce") {
        l = F::cross_entropy(o.logits, y);
      } else if (c.method == "la") {
        l = F::logit_adjusted_cross_entropy(
            o.logits, y, counts_t,
            losses::LogitAdjustedLossOptions().tau(c.la_tau));
      } else if (c.method == "bs") {
        l = F::balanced_softmax_cross_entropy(o.logits, y, counts_t);
      } else if (c.method == "ldam_drw") {
        l = F::ldam_loss(
            o.logits,
            y,
            counts_t,
            losses::LDAMLossOptions()
                .max_margin(c.ldam_max_margin)
                .scale(c.ldam_scale),
            drw_active(c, epoch) ? drw_weights : torch::Tensor());
      } else {
        l = F::focal_loss(
            o.logits, y, losses::FocalLossOptions().gamma(c.focal_gamma));
      }
      out[c.method] = l;
      out["total"] = l;
      return out;
    }
    const int64_t B = batch.labels.size(0);
    auto o = precision->forward(*model, torch::cat(batch.views, 0));
    auto logits0 = o.logits.slice(0, 0, B);
    auto z = torch::stack(
        {o.embeddings.slice(0, B, 2 * B), o.embeddings.slice(0, 2 * B, 3 * B)},
        1);
    // Global batch for the contrastive term (identity in one process).
    auto global = gather_for_contrastive(ctx, z, y);
    auto protos = c.class_complement ? model->prototypes() : torch::Tensor();
    // The classification term is the local mean; the ranks' gradient average
    // makes it the global mean (equal local batches).
    auto cls = losses::functional::logit_adjusted_cross_entropy(
        logits0, y, counts_t, losses::LogitAdjustedLossOptions().tau(c.la_tau));
    auto con = losses::functional::contrastive_loss(
        global.features,
        global.labels,
        protos,
        counts_t,
        losses::ContrastiveLossOptions()
            .temperature(c.temperature)
            .class_averaging(c.class_averaging)
            .class_complement(c.class_complement)
            .balance(c.balance)
            .feature_scale(c.feature_scale)
            .margin_max(c.margin_max));
    out["la_ce"] = cls;
    out["contrastive"] = con;
    out["total"] = c.alpha * cls + c.beta * con;
    return out;
  }
};

Trainer::Trainer(Config config, dist::Context ctx)
    : s_(std::make_unique<State>()) {
  validate(config);
  const int world = ctx.world_size();
  if (config.optim.batch_size % world != 0) {
    fail(
        "optim.batch_size: the global batch {} is not divisible by the world "
        "size {} (each rank takes batch / world)",
        config.optim.batch_size,
        world);
  }
  s_->ctx = ctx;
  s_->config = config;
  util::setup_threads(config.train.threads, config.train.interop_threads);
  s_->device = pick_device(config.train.device);
  if (s_->device.is_cuda() && ctx.distributed()) {
    // One GPU per process: LOCAL_RANK selects it.
    auto n = static_cast<int>(torch::cuda::device_count());
    s_->device = torch::Device(
        torch::kCUDA,
        static_cast<c10::DeviceIndex>(ctx.local_rank() % std::max(1, n)));
  }
  s_->data = open_data(config.data, config.data.test_split);
  s_->counts = s_->data.train->class_counts();
  for (size_t c = 0; c < s_->counts.size(); ++c) {
    if (s_->counts[c] == 0) {
      fail(
          "Trainer - class {} ('{}') has no training image after the "
          "long-tail selection (lower data.imbalance_factor)",
          c,
          s_->data.train->class_names()[c]);
    }
  }
  s_->counts_t = torch::tensor(s_->counts, torch::kLong).to(s_->device);
  if (config.loss.method == "ldam_drw") {
    s_->drw_weights =
        losses::drw_class_weights(s_->counts, config.loss.drw_beta)
            .to(s_->device);
  }
  auto stats = stats_of(config, *s_->data.train);
  std::vector<augment::Recipe> recipes;
  for (const auto& name : config.data.views) {
    recipes.push_back(augment::make_recipe(name, stats));
  }
  data::SamplerOptions so;
  so.seed = static_cast<uint64_t>(config.train.seed);
  so.rank = ctx.rank();
  so.world_size = world;
  if (is_two_branch_method(config.loss.method)) {
    s_->paired =
        make_paired_loader(config, s_->data.train, recipes, so, world);
  } else {
    s_->views = std::make_shared<pipeline::MultiViewDataset>(
        s_->data.train, std::move(recipes));
    s_->sampler =
        data::make_sampler(config.data.sampler, *s_->data.train, so);
    s_->loader = std::make_unique<pipeline::Loader>(
        s_->views,
        s_->sampler,
        pipeline::LoaderOptions()
            .batch_size(config.optim.batch_size / world)
            .workers(static_cast<int>(config.data.workers))
            .drop_last(
                is_contrastive_core_method(config.loss.method) ||
                config.loss.method == "rescom")
            .seed(static_cast<uint64_t>(config.train.seed)));
  }
  torch::manual_seed(static_cast<uint64_t>(config.train.seed));
  s_->model = models::Network(network_options(
      config, s_->data.train->num_classes(), stats.channels));
  attach_method_modules(
      s_->model, config, s_->data.train->num_classes(), &s_->queue,
      &s_->prototypes);
  if (config.loss.method == "rescom") {
    s_->cb_weights =
        losses::class_balanced_weights(s_->counts, config.loss.rescom_cb_beta)
            .to(s_->device);
  }
  s_->model->to(s_->device);
  s_->precision = std::make_unique<Precision>(
      config.train.amp, config.train.channels_last, s_->device);
  s_->precision->prepare(*s_->model);
  if (s_->precision->needs_loss_scaling()) {
    s_->scaler = std::make_unique<LossScaler>();
  }
  if (ctx.distributed()) {
    // Same initial weights everywhere (rank 0's), SyncBN on request, and
    // gradient averaging in buckets overlapped with backward.
    dist::broadcast_module(ctx, *s_->model);
    if (config.dist.sync_bn) {
      int n = dist::enable_sync_batchnorm(*s_->model, ctx);
      if (n == 0) {
        spdlog::warn(
            "dist.sync_bn: model '{}' has no SyncBatchNorm layer; BatchNorm "
            "statistics stay per rank",
            config.model.arch);
      }
    }
    s_->reducer = std::make_unique<dist::GradReducer>(
        ctx,
        s_->model->parameters(),
        dist::GradReducerOptions().bucket_cap_mb(config.dist.bucket_mb));
  }
  s_->optimizer = make_sgd(*s_->model, config.optim);
}

Trainer::~Trainer() = default;

const Config& Trainer::config() const {
  return s_->config;
}

std::shared_ptr<models::NetworkImpl> Trainer::model() const {
  return s_->model.ptr();
}

eval::EvalReport Trainer::evaluate() {
  return evaluate_model(*s_->model, *s_->data.test, s_->config, s_->counts);
}

TrainResult Trainer::run(bool resume) {
  const Config& c = s_->config;
  const dist::Context& ctx = s_->ctx;
  const bool main = ctx.is_main();  // evaluates, logs, writes files
  const int world = ctx.world_size();
  fs::path out(c.output.dir);
  const std::string last = (out / kLastCheckpoint).string();
  const std::string best = (out / kBestCheckpoint).string();
  const std::string config_text = to_yaml(c);
  if (main) {
    fs::create_directories(out);
    util::atomic_write_text((out / "config.yaml").string(), config_text);
    spdlog::info("config:\n{}", config_text);
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
      "data: {} training images ({} classes, counts {} .. {}), {} test",
      s_->data.train->size(),
      s_->counts.size(),
      *std::max_element(s_->counts.begin(), s_->counts.end()),
      *std::min_element(s_->counts.begin(), s_->counts.end()),
      s_->data.test->size());

  Checkpoint state;
  std::vector<EpochRecord> history;
  if (resume) {
    // Every rank reads last.pt (a shared folder across machines).
    if (!fs::exists(last)) {
      fail("Trainer::run - --resume: no checkpoint '{}' to resume from", last);
    }
    state = load_checkpoint(last, s_->model.ptr().get(), s_->optimizer.get(),
                            s_->device);
    if (main && state.config_yaml != config_text) {
      spdlog::warn(
          "the config differs from the one saved in {}; continuing with the "
          "new one",
          last);
    }
    restore_rng(state);
    if (s_->scaler) {
      auto it = state.tensors.find("loss_scaler");
      if (it != state.tensors.end()) {
        s_->scaler->load_state(it->second);
      }
    }
    history = history_from(state.history_json);
    spdlog::info(
        "resumed from {} at epoch {} step {}", last, state.epoch,
        state.step_in_epoch);
  } else if (main) {
    // A fresh run: metrics of an earlier run in this folder go away.
    std::error_code ec;
    fs::remove(out / "metrics.jsonl", ec);
  }
  state.config_yaml = config_text;

  util::install_stop_handlers();
  TrainResult result;
  result.out_dir = out.string();
  const bool tty = main && util::stdout_is_tty();
  eval::EvalReport report;
  bool have_report = false;
  s_->model->train();

  // Rank 0 writes (atomically); the others wait for it on a barrier, so no
  // rank runs ahead of a checkpoint that may fail.
  auto save_last = [&](int64_t epoch, int64_t step_in_epoch) {
    state.epoch = epoch;
    state.step_in_epoch = step_in_epoch;
    s_->save_samplers(state);
    state.history_json = history_json(history).dump();
    capture_rng(state);
    if (s_->scaler) {
      state.tensors["loss_scaler"] = s_->scaler->state();
    }
    if (main) {
      save_checkpoint(last, *s_->model, s_->optimizer.get(), state);
    }
    ctx.barrier();
  };

  for (int64_t epoch = state.epoch; epoch < c.schedule.epochs; ++epoch) {
    s_->set_epoch(epoch);
    int64_t step = 0;
    if (resume && epoch == state.epoch && state.step_in_epoch > 0) {
      s_->load_samplers(state);
      step = state.step_in_epoch;
    }
    int64_t spe = s_->batches_per_epoch();
    if (c.train.max_steps_per_epoch > 0) {
      spe = std::min(spe, c.train.max_steps_per_epoch);
    }
    if (spe < 1) {
      fail(
          "Trainer::run - no full batch in an epoch ({} images, batch {})",
          s_->data.train->size(),
          c.optim.batch_size);
    }
    std::map<std::string, eval::AverageMeter> meters;
    util::Progress progress(
        fmt::format("epoch {}/{}", epoch + 1, c.schedule.epochs),
        spe,
        tty,
        c.train.log_every);
    auto t0 = std::chrono::steady_clock::now();
    int64_t images = 0;
    double lr = 0;
    while (step < spe) {
      auto batch = s_->next_batch();
      if (!batch) {
        break;
      }
      lr = learning_rate(c.schedule, c.optim.lr, epoch, step, spe);
      set_learning_rate(*s_->optimizer, lr);
      auto parts = s_->step(*batch, epoch);
      // The loss components, logged (and checked) as rank means.
      auto flat =
          torch::empty({static_cast<int64_t>(parts.size())}, torch::kDouble);
      {
        auto fa = flat.accessor<double, 1>();
        int64_t i = 0;
        for (const auto& kv : parts) {
          fa[i++] = kv.second.item<double>();
        }
      }
      ctx.all_reduce(flat, dist::ReduceOp::kSum);
      std::map<std::string, double> values;
      {
        auto fa = flat.accessor<double, 1>();
        int64_t i = 0;
        for (const auto& kv : parts) {
          values[kv.first] = fa[i++] / world;
        }
      }
      util::check_finite(values, state.global_step, epoch);
      s_->optimizer->zero_grad();
      if (s_->scaler) {
        s_->scaler->scale(parts["total"]).backward();
      } else {
        parts["total"].backward();
      }
      if (s_->reducer) {
        s_->reducer->synchronize();  // gradient average over the ranks
      }
      if (s_->scaler) {
        // fp16: the averaged gradients are the same on every rank, so every
        // rank takes the same decision.
        const bool finite = s_->scaler->unscale(s_->model->parameters());
        if (finite) {
          s_->optimizer->step();
        } else {
          spdlog::warn(
              "amp fp16: non-finite gradients at step {}; step skipped, loss "
              "scale {} -> {}",
              state.global_step, s_->scaler->value(),
              s_->scaler->value() * LossScalerOptions().backoff);
        }
        s_->scaler->update(finite);
      } else {
        s_->optimizer->step();
      }
      s_->after_step();
      const int64_t b = batch->main.labels.size(0) * world;
      for (const auto& [k, v] : values) {
        meters[k].add(v, b);
      }
      images += b * static_cast<int64_t>(batch->main.views.size());
      if (batch->balanced) {
        images += batch->balanced->labels.size(0) * world *
            static_cast<int64_t>(batch->balanced->views.size());
      }
      ++step;
      ++state.global_step;
      if (s_->kill_at > 0 && state.global_step == s_->kill_at &&
          debug_hook_rank(ctx.rank())) {
        std::raise(SIGKILL);
      }
      if (s_->term_at > 0 && state.global_step == s_->term_at &&
          debug_hook_rank(ctx.rank())) {
        std::raise(SIGTERM);
      }
      if (main) {
        progress.update(
            step,
            fmt::format("loss {:.4f}  lr {:.4g}", values["total"], lr));
      }
      if (c.train.checkpoint_every > 0 &&
          state.global_step % c.train.checkpoint_every == 0 && step < spe) {
        save_last(epoch, step);
      }
      // All ranks stop after the same step: a signal seen by any rank stops
      // every rank (a one-number all-reduce).
      bool stop = util::stop_requested();
      if (ctx.distributed()) {
        auto flag = torch::full({1}, stop ? 1.0 : 0.0, torch::kDouble);
        ctx.all_reduce(flag, dist::ReduceOp::kMax);
        stop = flag.item<double>() > 0;
      }
      if (stop) {
        save_last(epoch, step);
        spdlog::warn(
            "stopped by signal {} at epoch {} step {}; checkpoint {} written. "
            "Resume with: ltcl train --config <same config> --out {} --resume",
            util::stop_signal(),
            epoch,
            step,
            last,
            out.string());
        util::remove_stop_handlers();
        result.stopped = true;
        result.epochs_done = epoch;
        result.global_step = state.global_step;
        return result;
      }
    }
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
    EpochRecord rec;
    rec.epoch = epoch;
    rec.lr = lr;
    rec.images_per_s = secs > 0 ? images / secs : 0;
    std::string loss_text;
    for (const auto& [k, m] : meters) {
      rec.losses[k] = m.value();
      loss_text += fmt::format(" {} {:.4f}", k, m.value());
    }
    if (main) {
      progress.finish(
          fmt::format("{} lr {:.4g} {:.0f} img/s", loss_text, lr,
                      rec.images_per_s));
    }
    const bool last_epoch = epoch + 1 == c.schedule.epochs;
    const bool evaluated =
        (epoch + 1) % c.train.eval_every == 0 || last_epoch;
    if (evaluated && main) {
      report = evaluate();
      have_report = true;
      rec.accuracy = {
          {"top1", report.top1},
          {"many", report.many},
          {"medium", report.medium},
          {"few", report.few}};
      eval::Scalars extra = {
          {"epoch", static_cast<double>(epoch + 1)},
          {"step", static_cast<double>(state.global_step)},
          {"lr", lr}};
      for (const auto& [k, v] : rec.losses) {
        extra["loss_" + k] = v;
      }
      eval::append_metrics_jsonl((out / "metrics.jsonl").string(), report,
                                 extra);
      spdlog::info(
          "eval epoch {}: top-1 {:.2f}  many {:.2f}  medium {:.2f}  few {:.2f}",
          epoch + 1, report.top1, report.many, report.medium, report.few);
    }
    history.push_back(rec);
    s_->set_epoch(epoch + 1);
    const bool improved =
        main && evaluated && report.top1 > state.best_metric;
    if (improved) {
      state.best_metric = report.top1;
      state.best_epoch = epoch + 1;
    }
    save_last(epoch + 1, 0);
    if (improved) {
      save_checkpoint(best, *s_->model, s_->optimizer.get(), state);
    }
    if (main && c.output.plots) {
      write_curves((out / "curves.png").string(), history);
    }
    result.epochs_done = epoch + 1;
  }
  util::remove_stop_handlers();
  if (!main) {
    // Wait for rank 0's final evaluation and reports (a failure there shows
    // up here as a barrier error rather than a silent exit).
    ctx.barrier();
    result.global_step = state.global_step;
    result.epochs_done = c.schedule.epochs;
    return result;
  }
  if (!have_report) {
    report = evaluate();  // resumed after the last evaluation
  }
  eval::Scalars extra = {
      {"epoch", static_cast<double>(c.schedule.epochs)},
      {"best_top1", state.best_metric},
      {"best_epoch", static_cast<double>(state.best_epoch)}};
  eval::write_metrics_json((out / "metrics.json").string(), report, extra);
  eval::write_per_class_csv((out / "per_class.csv").string(), report);
  eval::write_confusion_csv((out / "confusion.csv").string(), report);
  if (c.output.plots) {
    eval::write_class_accuracy_plot(
        (out / "per_class.png").string(),
        report,
        fmt::format("{} on {}: per-class top-1", c.loss.method,
                    c.data.dataset));
    write_curves((out / "curves.png").string(), history);
  }
  result.report = report;
  result.global_step = state.global_step;
  result.epochs_done = c.schedule.epochs;
  ctx.barrier();
  return result;
}

SavedModel load_saved_model(
    const std::string& checkpoint,
    const std::string& split,
    const std::string& device) {
  SavedModel m;
  auto meta = load_checkpoint(checkpoint, nullptr, nullptr);
  m.config = parse_config(meta.config_yaml, checkpoint + " (saved config)");
  if (!split.empty()) {
    m.config.data.test_split = split;
  }
  m.data = open_data(m.config.data, m.config.data.test_split);
  auto stats = stats_of(m.config, *m.data.train);
  auto net = models::Network(network_options(
      m.config, m.data.train->num_classes(), stats.channels));
  attach_method_modules(net, m.config, m.data.train->num_classes());
  auto dev = pick_device(device);
  net->to(dev);
  load_checkpoint(checkpoint, net.ptr().get(), nullptr, dev);
  m.model = net.ptr();
  return m;
}

}  // namespace ltcl::train
