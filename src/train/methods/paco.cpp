// PaCo and GPaCo (Cui et al., ICCV 2021 / TPAMI 2023; METHODS.md section
// 10): parametric contrastive learning. The linear classifier's logits
// plus the training log prior, g = W h + b + log(pi + 1e-9), are the
// "centres" and join the contrast set of each anchor; one loss
// (losses/paco.h), no separate cross-entropy; at test the raw linear logits
// classify.
//
//   paco:  anchors q = the projection of view 0 (with gradient); keys k =
//          the projection of view 1 through a momentum encoder (an EMA of
//          the backbone and projection head, its own BatchNorm; updated
//          after each optimizer step, which equals the official update
//          before each forward); contrast set [q ; k ; queue], each anchor
//          excluding itself.
//   gpaco: one encoder, both views with gradient and both anchors (with
//          their centre logits); contrast set [z0 ; z1 ; queue]; the
//          projection head has no BatchNorm.
//
// The queue (models/queue.h, `paco_queue`) takes the step's keys (PaCo: k;
// GPaCo: view 1's embeddings) of the whole global batch after the optimizer
// step, so the loss sees the queue as it was before the step, as the
// official code. Under data parallelism each rank's anchors are its own
// images and the contrast set holds the global batch (all-gathered, the
// gradient flowing back to each rank's slice), so the loss averaged over the
// ranks is the one-process loss of the global batch. Momentum encoder and
// queue are modules of the model: in checkpoints, resumed exactly.
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/losses/paco.h"
#include "ltcl/models/network.h"
#include "ltcl/models/queue.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/util/error.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

constexpr const char* kAlpha = "loss.paco_alpha";
constexpr const char* kTau = "loss.paco_tau";
constexpr const char* kQueue = "loss.paco_queue";
constexpr const char* kMomentum = "loss.paco_momentum";

class PaCo : public Method {
 public:
  PaCo(const Config& c, bool momentum_encoder)
      : momentum_encoder_(momentum_encoder),
        alpha_(method_number_value(c, kAlpha)),
        tau_(method_number_value(c, kTau)),
        queue_size_(static_cast<int64_t>(method_number_value(c, kQueue))),
        momentum_(momentum_encoder ? method_number_value(c, kMomentum) : 0.0),
        seed_(static_cast<uint64_t>(c.train.seed)) {}

  void configure(models::NetworkOptions& options) const override {
    if (!momentum_encoder_) {
      options.proj_batchnorm(false);
    }
  }

  void attach(models::NetworkImpl& model) override {
    if (momentum_encoder_) {
      // A copy of the freshly built network (the official code copies the
      // query encoder's weights into the key encoder), before the method's
      // other modules are attached; never trained by the optimizer.
      key_ = std::dynamic_pointer_cast<models::NetworkImpl>(model.clone());
      for (auto& p : key_->parameters()) {
        p.set_requires_grad(false);
      }
      model.register_module("paco_key", key_);
    }
    queue_ = model.register_module(
        "paco_queue",
        models::LabeledQueue(
            models::LabeledQueueOptions(
                queue_size_, model.options.proj_dim(),
                model.options.num_classes())
                .seed(seed_)));
  }

  void setup(const MethodSetup& s) override {
    device_ = s.device;
    dist_ = &s.dist;
    auto counts = s.counts.to(torch::kDouble);
    log_prior_ =
        torch::log(counts / counts.sum() + 1e-9).to(torch::kFloat).unsqueeze(0);
    pairs_.clear();
    if (momentum_encoder_) {
      if (!s.model) {
        fail("paco: the method's setup needs the model");
      }
      // The EMA pairs: the key encoder's backbone and projection head
      // against the model's (the key encoder's classifier is never used).
      auto own = s.model->named_parameters(/*recurse=*/true);
      for (const auto& kv : key_->named_parameters()) {
        const auto& name = kv.key();
        if (name.rfind("backbone.", 0) != 0 && name.rfind("head.", 0) != 0) {
          continue;
        }
        const auto* q = own.find(name);
        if (!q) {
          fail("paco: the model has no parameter '{}' for the key encoder", name);
        }
        pairs_.emplace_back(kv.value(), *q);
      }
    }
  }

  LossParts step(const pipeline::StepBatch& input, const StepEnv& env)
      override {
    const auto& batch = input.main;
    auto y = batch.labels.to(device_);
    const int64_t B = y.size(0);
    const int64_t offset = static_cast<int64_t>(dist_->rank()) * B;
    torch::Tensor centre, anchors, anchor_labels, contrast, contrast_labels,
        self_index, queued;
    const auto ar = torch::arange(B, y.options());
    if (momentum_encoder_) {
      auto o = env.forward(batch.views[0]);
      torch::Tensor k;
      {
        torch::NoGradGuard no_grad;
        k = (env.forward_network ? env.forward_network(*key_, batch.views[1])
                                 : key_->forward(batch.views[1].to(device_)))
                .embeddings;
      }
      auto q = o.embeddings;
      auto gq = dist::gather_for_contrastive(*dist_, q, y);
      auto gk = dist::gather_for_contrastive(*dist_, k, y);
      check_global(gq.features.size(0), B);
      centre = o.logits + log_prior_;
      anchors = q;
      anchor_labels = y;
      contrast = torch::cat({gq.features, gk.features, queue_->keys}, 0);
      contrast_labels = torch::cat({gq.labels, gk.labels, queue_->labels}, 0);
      self_index = offset + ar;
      queued = k;
    } else {
      auto o = env.forward(torch::cat({batch.views[0], batch.views[1]}, 0));
      auto z0 = o.embeddings.slice(0, 0, B);
      auto z1 = o.embeddings.slice(0, B, 2 * B);
      auto g = dist::gather_for_contrastive(*dist_, torch::stack({z0, z1}, 1), y);
      check_global(g.features.size(0), B);
      const int64_t G = g.features.size(0);
      centre = o.logits + log_prior_;
      anchors = o.embeddings;
      anchor_labels = torch::cat({y, y}, 0);
      contrast = torch::cat(
          {g.features.select(1, 0), g.features.select(1, 1), queue_->keys}, 0);
      contrast_labels = torch::cat({g.labels, g.labels, queue_->labels}, 0);
      self_index = torch::cat({offset + ar, G + offset + ar}, 0);
      queued = z1;
    }
    auto loss = losses::paco_loss(
        centre, anchors, anchor_labels, contrast, contrast_labels, self_index,
        alpha_, tau_);
    // Enqueued after the optimizer step (the loss's graph holds the queue's
    // keys until backward), in the global sampler order.
    auto keys = dist::gather_for_queue(*dist_, queued.detach(), y);
    pending_keys_ = keys.features;
    pending_labels_ = keys.labels;
    return {{"paco", loss}, {"total", loss}};
  }

  void after_step() override {
    if (pending_keys_.defined()) {
      queue_->enqueue(pending_keys_, pending_labels_);
      pending_keys_ = torch::Tensor();
      pending_labels_ = torch::Tensor();
    }
    if (momentum_encoder_) {
      torch::NoGradGuard no_grad;
      for (auto& [k, q] : pairs_) {
        k.mul_(momentum_).add_(q.detach(), 1.0 - momentum_);
      }
    }
  }

 private:
  void check_global(int64_t rows, int64_t local) const {
    if (rows != local * dist_->world_size()) {
      fail(
          "{}: every process needs the same batch size (global batch {} "
          "rows, local {} x {} processes)",
          momentum_encoder_ ? "paco" : "gpaco", rows, local,
          dist_->world_size());
    }
  }

  bool momentum_encoder_;
  double alpha_, tau_;
  int64_t queue_size_;
  double momentum_;
  uint64_t seed_;
  std::shared_ptr<models::NetworkImpl> key_;
  models::LabeledQueue queue_{nullptr};
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs_;
  torch::Tensor log_prior_, pending_keys_, pending_labels_;
  torch::Device device_{torch::kCPU};
  const dist::Context* dist_ = nullptr;
};

void add_shared_keys(ConfigSchema& s) {
  s.add(make_key<double>(
      kAlpha,
      method_number(kAlpha, 0.05),
      "PaCo / GPaCo: weight of the same-class samples among the positives "
      "(the true class's centre weighs 1): 0.05 PaCo, 0.045 GPaCo on "
      "ImageNet-LT; 0.01 PaCo on CIFAR-100-LT.",
      at_least(0.0)));
  s.add(make_key<double>(
      kTau,
      method_number(kTau, 0.2),
      "PaCo / GPaCo temperature of the sample similarities (0.2 ImageNet-LT, "
      "0.05 CIFAR).",
      positive()));
  s.add(make_key<double>(
      kQueue,
      method_number(kQueue, 8192),
      "PaCo / GPaCo: entries of the queue of past keys (8192 ImageNet-LT, "
      "1024 CIFAR); a whole number >= 1.",
      [](const double& v, const Config&) {
        return v >= 1 && v == std::floor(v) && v <= 1e8
                   ? std::string()
                   : std::string("must be a whole number in [1, 1e8]");
      }));
}

}  // namespace

void add_paco(std::vector<MethodInfo>& out) {
  for (bool momentum : {true, false}) {
    MethodInfo m;
    m.name = momentum ? "paco" : "gpaco";
    m.summary = momentum
                    ? "PaCo: parametric contrastive, momentum encoder + queue "
                      "(Cui et al. 2021)"
                    : "GPaCo: parametric contrastive, one encoder, two anchors "
                      "+ queue (Cui et al. 2023)";
    m.traits.views = 2;
    m.traits.projection = true;
    m.traits.drop_last = true;
    m.traits.sync_bn = true;
    m.traits.instance_sampler = true;
    // Queue and momentum encoder advance once per optimizer step.
    m.traits.accumulation = Accumulation::kUnsupported;
    m.keys = [momentum](ConfigSchema& s) {
      add_shared_keys(s);
      if (momentum) {
        s.add(make_key<double>(
            kMomentum,
            method_number(kMomentum, 0.999),
            "PaCo: the key encoder's EMA momentum m (k <- m k + (1 - m) q "
            "after each step).",
            in_range(0.0, 1.0, true)));
      }
    };
    m.make = [momentum](const Config& c) -> std::unique_ptr<Method> {
      return std::make_unique<PaCo>(c, momentum);
    };
    out.push_back(std::move(m));
  }
}

}  // namespace ltcl::train::rooms
