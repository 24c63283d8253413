// ProCo (Du et al., TPAMI 2024; METHODS.md section 9): BCL's network and
// views (view 0 for the classifier, views 1-2 for the projection head), the
// contrastive term taken in closed form against per-class vMF
// distributions estimated from the embeddings:
//
//   total = LA-CE(view 0) + alpha * (ProCo(z1) + ProCo(z2)) / 2
//
// The vMF estimates are a module of the model (`proco_vmf`: four buffers,
// saved in checkpoints); each epoch that starts at its first step resets
// them (old <- current), and for each view in turn the estimator takes the
// view's embeddings of the whole global batch (detached) before that
// view's loss reads them. The room declares its own keys (loss.proco_*).
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/losses/classification.h"
#include "ltcl/losses/proco.h"
#include "ltcl/models/network.h"
#include "ltcl/models/vmf.h"
#include "ltcl/pipeline/streams.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

constexpr const char* kAlpha = "loss.proco_alpha";
constexpr const char* kTau = "loss.proco_tau";

class ProCo : public Method {
 public:
  explicit ProCo(const Config& c)
      : la_(c.loss.logit_adjusted),
        alpha_(method_number_value(c, kAlpha)),
        tau_(method_number_value(c, kTau)),
        seed_(static_cast<uint64_t>(c.train.seed)) {}

  void attach(models::NetworkImpl& model) override {
    vmf_ = model.register_module(
        "proco_vmf",
        models::VmfEstimator(
            model.options.num_classes(), model.options.proj_dim()));
  }

  void setup(const MethodSetup& s) override {
    counts_ = s.counts;
    device_ = s.device;
    dist_ = &s.dist;
  }

  void epoch_begin(const EpochEnv& e) override {
    // A run resumed mid-epoch has the epoch's estimates in its checkpoint.
    if (e.first_step == 0) {
      vmf_->start_epoch(seed_, e.epoch);
    }
  }

  LossParts step(const pipeline::StepBatch& input, const StepEnv& env)
      override {
    const auto& batch = input.main;
    auto y = batch.labels.to(device_);
    const int64_t B = y.size(0);
    auto o = env.forward(torch::cat(batch.views, 0));
    auto cls = losses::functional::logit_adjusted_cross_entropy(
        o.logits.slice(0, 0, B), y, counts_, la_);
    torch::Tensor con;
    for (int v = 1; v <= 2; ++v) {
      auto z = o.embeddings.slice(0, v * B, (v + 1) * B);
      auto global = dist::gather_for_queue(*dist_, z, y);
      vmf_->update(global.features, global.labels);
      auto l = losses::proco_loss(
          z, y, vmf_->mu(), vmf_->kappa(), counts_, tau_);
      con = con.defined() ? con + l : l;
    }
    con = (con / 2).to(cls.scalar_type());
    return {
        {"la_ce", cls},
        {"proco", con},
        {"total", cls + alpha_ * con}};
  }

 private:
  losses::LogitAdjustedLossOptions la_;
  double alpha_, tau_;
  uint64_t seed_;
  models::VmfEstimator vmf_{nullptr};
  torch::Tensor counts_;
  torch::Device device_{torch::kCPU};
  const dist::Context* dist_ = nullptr;
};

}  // namespace

void add_proco(std::vector<MethodInfo>& out) {
  MethodInfo m;
  m.name = "proco";
  m.summary = "ProCo: LA-CE + closed-form vMF contrastive (Du et al. 2024)";
  m.traits.views = 3;
  m.traits.projection = true;
  m.traits.drop_last = true;
  m.traits.sync_bn = true;
  m.traits.instance_sampler = true;
  // The estimator is updated inside the step: no micro-batch split.
  m.traits.accumulation = Accumulation::kUnsupported;
  m.keys = [](ConfigSchema& s) {
    add_la_tau_key(s);
    s.add(make_key<double>(
        kAlpha,
        method_number(kAlpha, 1.0),
        "ProCo: weight of the mean of the two views' ProCo losses.",
        at_least(0.0)));
    s.add(make_key<double>(
        kTau,
        method_number(kTau, 0.1),
        "ProCo temperature (0.1 on CIFAR, 0.07 on ImageNet-LT).",
        positive()));
  };
  m.make = [](const Config& c) -> std::unique_ptr<Method> {
    return std::make_unique<ProCo>(c);
  };
  out.push_back(std::move(m));
}

}  // namespace ltcl::train::rooms
