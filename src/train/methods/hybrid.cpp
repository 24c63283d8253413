// Hybrid-SC / Hybrid-PSC (METHODS.md section 6): two batch streams -- an
// instance-balanced one (views 1-2, the contrastive branch) and a
// class-balanced one (view 0, the classifier branch) -- in one forward pass
// of 3B images. Contrastive branch: SupCon (hybrid_sc) or PSC against
// learnable class prototypes (hybrid_psc; both views are anchors, mean over
// the 2B of them) on the projections; classifier branch: CE on the
// class-balanced batch's logits. With the curriculum weight
// alpha = 1 - (epoch / epochs)^2 (0-based epoch, constant within an epoch):
//
//   total = alpha * contrastive + (1 - alpha) * CE(balanced batch)
//
// Hybrid-PSC's prototypes are a module of the model (`psc_prototypes`).
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/losses/classification.h"
#include "ltcl/losses/contrastive.h"
#include "ltcl/losses/hybrid.h"
#include "ltcl/models/heads.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

class Hybrid : public Method {
 public:
  Hybrid(const Config& c, bool prototypes)
      : loss_(c.loss), epochs_(c.schedule.epochs), psc_(prototypes) {}

  void attach(models::NetworkImpl& model) override {
    if (psc_) {
      prototypes_ = model.register_module(
          "psc_prototypes",
          models::PrototypeBank(
              model.options.num_classes(), model.options.proj_dim()));
    }
  }

  void setup(const MethodSetup& s) override {
    counts_ = s.counts;
    device_ = s.device;
    dist_ = &s.dist;
  }

  LossParts step(const pipeline::StepBatch& input, const StepEnv& env)
      override {
    const auto& instance = input.main;
    const auto& balanced = *input.balanced;
    auto yi = instance.labels.to(device_);
    auto yb = balanced.labels.to(device_);
    const int64_t B = yi.size(0);
    auto x = torch::cat(
        {instance.views[0], instance.views[1], balanced.views[0]}, 0);
    auto o = env.forward(x);
    torch::Tensor con;
    if (!psc_) {
      auto z = torch::stack(
          {o.embeddings.slice(0, 0, B), o.embeddings.slice(0, B, 2 * B)}, 1);
      auto global = dist::gather_for_contrastive(*dist_, z, yi);
      con = losses::functional::contrastive_loss(
          global.features,
          global.labels,
          torch::Tensor(),
          counts_,
          losses::supcon_options(loss_.contrastive.temperature()));
    } else {
      con = losses::functional::psc_loss(
          o.embeddings.slice(0, 0, 2 * B),
          torch::cat({yi, yi}, 0),
          prototypes_->weight,
          loss_.psc);
    }
    auto ce = losses::functional::cross_entropy(
        o.logits.slice(0, 2 * B, o.logits.size(0)), yb);
    const double a = losses::hybrid_alpha(
        static_cast<double>(env.epoch), static_cast<double>(epochs_));
    return {
        {"contrastive", con},
        {"balanced_ce", ce},
        {"total", a * con + (1.0 - a) * ce}};
  }

 private:
  LossConfig loss_;
  int64_t epochs_;
  bool psc_;
  models::PrototypeBank prototypes_{nullptr};
  torch::Tensor counts_;
  torch::Device device_{torch::kCPU};
  const dist::Context* dist_ = nullptr;
};

MethodInfo hybrid_method(std::string name, std::string summary, bool psc) {
  MethodInfo m;
  m.name = std::move(name);
  m.summary = std::move(summary);
  m.traits.views = 3;
  m.traits.streams = Streams::kInstanceAndBalanced;
  m.traits.projection = true;
  m.traits.drop_last = true;
  m.traits.sync_bn = true;
  m.traits.instance_sampler = true;
  // Its contrastive term couples the batch (and ResCom's queue is filled
  // per step): no embedding cache yet.
  m.traits.accumulation = Accumulation::kUnsupported;
  if (psc) {
    m.keys = [](ConfigSchema& s) {
      s.add(make_key<double>(
          "loss.psc_tau",
          LTCL_CONFIG_FIELD(double, loss.psc.temperature()),
          "Hybrid-PSC temperature.",
          positive()));
    };
  } else {
    m.keys = [](ConfigSchema& s) {
      s.add(make_key<double>(
          "loss.temperature",
          LTCL_CONFIG_FIELD(double, loss.contrastive.temperature()),
          "Contrastive temperature tau (contrastive-core methods, "
          "Hybrid-SC).",
          positive()));
    };
  }
  m.make = [psc](const Config& c) -> std::unique_ptr<Method> {
    return std::make_unique<Hybrid>(c, psc);
  };
  return m;
}

}  // namespace

void add_hybrid(std::vector<MethodInfo>& out) {
  out.push_back(hybrid_method(
      "hybrid_sc", "Hybrid-SC: SupCon + class-balanced CE", false));
  out.push_back(hybrid_method(
      "hybrid_psc", "Hybrid-PSC: prototype contrastive + class-balanced CE",
      true));
}

}  // namespace ltcl::train::rooms
