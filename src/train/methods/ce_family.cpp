// The one-view classification baselines (METHODS.md section 1): plain CE,
// logit-adjusted CE (Menon et al. 2021), Balanced Softmax (Ren et al. 2020)
// and focal loss (Lin et al. 2017). One view, no projection head; the step
// is the loss of the logits, logged under the method's name.
#include <torch/torch.h>

#include "ltcl/losses/classification.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

namespace F = losses::functional;

// loss(logits, labels, class counts on the device).
using Criterion = std::function<torch::Tensor(
    const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

class OneViewClassification : public Method {
 public:
  OneViewClassification(std::string name, Criterion criterion)
      : name_(std::move(name)), criterion_(std::move(criterion)) {}

  void setup(const MethodSetup& s) override {
    counts_ = s.counts;
    device_ = s.device;
  }

  LossParts step(const pipeline::StepBatch& batch, const StepEnv& env)
      override {
    auto y = batch.main.labels.to(device_);
    auto o = env.forward(batch.main.views[0]);
    auto l = criterion_(o.logits, y, counts_);
    return {{name_, l}, {"total", l}};
  }

 private:
  std::string name_;
  Criterion criterion_;
  torch::Tensor counts_;
  torch::Device device_{torch::kCPU};
};

MethodInfo one_view(
    std::string name,
    std::string summary,
    std::function<void(ConfigSchema&)> keys,
    std::function<Criterion(const Config&)> criterion) {
  MethodInfo m;
  m.name = name;
  m.summary = std::move(summary);
  m.keys = std::move(keys);
  m.make = [name, criterion](const Config& c) -> std::unique_ptr<Method> {
    return std::make_unique<OneViewClassification>(name, criterion(c));
  };
  return m;
}

}  // namespace

// Shared with the contrastive core (its LA-CE term).
void add_la_tau_key(ConfigSchema& s) {
  s.add(make_key<double>(
      "loss.la_tau",
      LTCL_CONFIG_FIELD(double, loss.logit_adjusted.tau()),
      "Logit adjustment strength t (la, and the LA-CE of "
      "contrastive-core methods).",
      at_least(0.0)));
}

void add_ce_family(std::vector<MethodInfo>& out) {
  out.push_back(one_view(
      "ce", "cross entropy", {}, [](const Config&) -> Criterion {
        return [](const auto& logits, const auto& y, const auto&) {
          return F::cross_entropy(logits, y);
        };
      }));
  out.push_back(one_view(
      "la",
      "logit-adjusted cross entropy",
      add_la_tau_key,
      [](const Config& c) -> Criterion {
        const auto options = c.loss.logit_adjusted;
        return [options](const auto& logits, const auto& y, const auto& n) {
          return F::logit_adjusted_cross_entropy(logits, y, n, options);
        };
      }));
  out.push_back(one_view(
      "bs", "Balanced Softmax", {}, [](const Config&) -> Criterion {
        return [](const auto& logits, const auto& y, const auto& n) {
          return F::balanced_softmax_cross_entropy(logits, y, n);
        };
      }));
  out.push_back(one_view(
      "focal",
      "focal loss",
      [](ConfigSchema& s) {
        s.add(make_key<double>(
            "loss.focal_gamma",
            LTCL_CONFIG_FIELD(double, loss.focal.gamma()),
            "Focal loss gamma (>= 0).",
            at_least(0.0)));
      },
      [](const Config& c) -> Criterion {
        const auto options = c.loss.focal;
        return [options](const auto& logits, const auto& y, const auto&) {
          return F::focal_loss(logits, y, options);
        };
      }));
}

}  // namespace ltcl::train::rooms
