// ResCom (METHODS.md section 5): views 0 and 1 of each image in one forward
// pass; a class-balanced contrastive loss with hard positive / negative
// mining against a class-balanced queue of past first-view embeddings, and
// Siamese Balanced Softmax on the two views' logits:
//
//   total = BS-CE(view 0, view 1) + rescom_weight * contrastive
//
// The queue is a module of the model (`rescom_queue`, saved in checkpoints)
// and is filled after each optimizer step with the step's detached
// first-view embeddings of the whole global batch, in the global sampler
// order, so every rank's queue equals the 1-process queue.
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/losses/rescom.h"
#include "ltcl/models/heads.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

class ResCom : public Method {
 public:
  explicit ResCom(const Config& c) : loss_(c.loss) {}

  void attach(models::NetworkImpl& model) override {
    queue_ = model.register_module(
        "rescom_queue",
        models::ClassBalancedQueue(
            models::ClassBalancedQueueOptions(
                model.options.num_classes(), model.options.proj_dim())
                .per_class(loss_.rescom_queue_size)));
  }

  void setup(const MethodSetup& s) override {
    counts_ = s.counts;
    device_ = s.device;
    dist_ = &s.dist;
    cb_weights_ =
        losses::class_balanced_weights(s.class_counts, loss_.rescom_cb_beta)
            .to(device_);
  }

  LossParts step(const pipeline::StepBatch& input, const StepEnv& env)
      override {
    const auto& batch = input.main;
    auto y = batch.labels.to(device_);
    const int64_t B = y.size(0);
    auto o = env.forward(torch::cat(batch.views, 0));
    auto z = torch::stack(
        {o.embeddings.slice(0, 0, B), o.embeddings.slice(0, B, 2 * B)}, 1);
    // Global batch for the contrastive term (identity in one process).
    auto global = dist::gather_for_contrastive(*dist_, z, y);
    auto con = losses::functional::rescom_contrastive_loss(
        global.features,
        global.labels,
        queue_->keys,
        queue_->valid_mask(),
        cb_weights_,
        loss_.rescom);
    auto cls = losses::functional::siamese_balanced_softmax(
        o.logits.slice(0, 0, B), o.logits.slice(0, B, 2 * B), y, counts_);
    // Enqueued after the optimizer step (the loss's graph holds the keys
    // until backward).
    auto keys = dist::gather_for_queue(*dist_, z.select(1, 0), y);
    pending_keys_ = keys.features;
    pending_labels_ = keys.labels;
    return {
        {"bs_ce", cls},
        {"contrastive", con},
        {"total", cls + loss_.rescom_weight * con}};
  }

  void after_step() override {
    if (pending_keys_.defined()) {
      queue_->enqueue(pending_keys_, pending_labels_);
      pending_keys_ = torch::Tensor();
      pending_labels_ = torch::Tensor();
    }
  }

 private:
  LossConfig loss_;
  models::ClassBalancedQueue queue_{nullptr};
  torch::Tensor counts_;
  torch::Tensor cb_weights_;
  torch::Tensor pending_keys_, pending_labels_;
  torch::Device device_{torch::kCPU};
  const dist::Context* dist_ = nullptr;
};

}  // namespace

void add_rescom(std::vector<MethodInfo>& out) {
  MethodInfo m;
  m.name = "rescom";
  m.summary = "ResCom: class-balanced queue contrastive + Siamese BS";
  m.traits.views = 2;
  m.traits.projection = true;
  m.traits.drop_last = true;
  m.traits.sync_bn = true;
  m.traits.instance_sampler = true;
  // Its contrastive term couples the batch (and ResCom's queue is filled
  // per step): no embedding cache yet.
  m.traits.accumulation = Accumulation::kUnsupported;
  m.keys = [](ConfigSchema& s) {
    s.add(make_key<int64_t>(
        "loss.rescom_queue_size",
        LTCL_CONFIG_FIELD(int64_t, loss.rescom_queue_size),
        "ResCom queue keys per class (at most 65536: the queue is C x this "
        "x proj_dim floats).",
        int_range(1, 65536)));
    s.add(make_key<int64_t>(
        "loss.rescom_k_pos",
        LTCL_CONFIG_FIELD(int64_t, loss.rescom.k_pos()),
        "ResCom hard positives per anchor (<= rescom_queue_size).",
        Check<int64_t>([](const int64_t& v, const Config& c) {
          if (v < 1 || v > c.loss.rescom_queue_size) {
            return fmt::format(
                "must be in [1, loss.rescom_queue_size = {}], got {}",
                c.loss.rescom_queue_size,
                v);
          }
          return std::string();
        })));
    s.add(make_key<int64_t>(
        "loss.rescom_k_neg",
        LTCL_CONFIG_FIELD(int64_t, loss.rescom.k_neg()),
        "ResCom hard negatives per anchor.",
        at_least<int64_t>(1)));
    s.add(make_key<double>(
        "loss.rescom_tau",
        LTCL_CONFIG_FIELD(double, loss.rescom.temperature()),
        "ResCom contrastive temperature.",
        positive()));
    s.add(make_key<double>(
        "loss.rescom_weight",
        LTCL_CONFIG_FIELD(double, loss.rescom_weight),
        "Weight of ResCom's contrastive term.",
        at_least(0.0)));
    s.add(make_key<double>(
        "loss.rescom_cb_beta",
        LTCL_CONFIG_FIELD(double, loss.rescom_cb_beta),
        "ResCom class-balanced weight beta, in [0, 1).",
        in_range(0, 1, true)));
  };
  m.make = [](const Config& c) -> std::unique_ptr<Method> {
    return std::make_unique<ResCom>(c);
  };
  out.push_back(std::move(m));
}

}  // namespace ltcl::train::rooms
