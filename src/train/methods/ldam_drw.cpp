// LDAM-DRW (Cao et al. NeurIPS 2019, METHODS.md section 1): label-distribution
// -aware margins on cosine logits, scaled by s, and deferred re-weighting --
// class-balanced weights (effective number, beta) switched on from epoch
// drw_epoch. One view; needs the cosine classifier at scale 1 (LDAM scales
// itself).
#include <torch/torch.h>

#include "ltcl/losses/classification.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

constexpr const char* kName = "ldam_drw";

class LdamDrw : public Method {
 public:
  explicit LdamDrw(const Config& c) : loss_(c.loss) {}

  void setup(const MethodSetup& s) override {
    counts_ = s.counts;
    device_ = s.device;
    drw_weights_ =
        losses::drw_class_weights(s.class_counts, loss_.drw_beta).to(device_);
  }

  LossParts step(const pipeline::StepBatch& batch, const StepEnv& env)
      override {
    auto y = batch.main.labels.to(device_);
    auto o = env.forward(batch.main.views[0]);
    const bool drw = env.epoch >= loss_.drw_epoch;
    auto l = losses::functional::ldam_loss(
        o.logits, y, counts_, loss_.ldam, drw ? drw_weights_ : torch::Tensor());
    return {{kName, l}, {"total", l}};
  }

 private:
  LossConfig loss_;
  torch::Tensor counts_;
  torch::Tensor drw_weights_;
  torch::Device device_{torch::kCPU};
};

}  // namespace

void add_ldam_drw(std::vector<MethodInfo>& out) {
  MethodInfo m;
  m.name = kName;
  m.summary = "LDAM margins with deferred re-weighting";
  m.keys = [](ConfigSchema& s) {
    s.add(make_key<double>(
        "loss.ldam_max_margin",
        LTCL_CONFIG_FIELD(double, loss.ldam.max_margin()),
        "LDAM largest margin.",
        positive()));
    s.add(make_key<double>(
        "loss.ldam_scale",
        LTCL_CONFIG_FIELD(double, loss.ldam.scale()),
        "LDAM scale s.",
        positive()));
    s.add(make_key<int64_t>(
        "loss.drw_epoch",
        LTCL_CONFIG_FIELD(int64_t, loss.drw_epoch),
        "Epoch (0-based) from which DRW class weights apply (< "
        "schedule.epochs).",
        at_least<int64_t>(0)));
    s.add(make_key<double>(
        "loss.drw_beta",
        LTCL_CONFIG_FIELD(double, loss.drw_beta),
        "DRW effective-number beta, in [0, 1).",
        in_range(0, 1, true)));
  };
  // LDAM takes cosine logits at scale 1 (it scales them itself), so a
  // config that names only the method (default_config("ldam_drw")) is valid.
  m.preset = [](Config& c) {
    c.model.classifier = "cosine";
    c.model.cosine_scale = 1.0;
  };
  m.check = [](const Config& c, const ConfigReport& report) {
    if (c.loss.drw_epoch >= c.schedule.epochs) {
      report(
          "loss.drw_epoch",
          fmt::format(
              "loss.drw_epoch must be < schedule.epochs = {}, got {}",
              c.schedule.epochs,
              c.loss.drw_epoch));
    }
    if (c.model.classifier != "cosine" || c.model.cosine_scale != 1.0) {
      report(
          "model.classifier",
          fmt::format(
              "loss.method '{}' needs model.classifier cosine with "
              "model.cosine_scale 1 (LDAM takes cosine logits and scales "
              "them by loss.ldam_scale), got {} with scale {}",
              kName,
              c.model.classifier,
              c.model.cosine_scale));
    }
  };
  m.make = [](const Config& c) -> std::unique_ptr<Method> {
    return std::make_unique<LdamDrw>(c);
  };
  out.push_back(std::move(m));
}

}  // namespace ltcl::train::rooms
