// The contrastive-core methods (METHODS.md sections 2-3): SupCon+LA, BCL,
// RCL and BCL+RCL are presets of one supervised contrastive loss with
// switches (losses/contrastive.h), inside the BCL framework: three views of
// each image in one forward pass of 3B images, LA-CE on view 0's logits and
// the contrastive loss on views 1-2's embeddings (with the class prototypes
// of head_fc as keys when class_complement is on):
//
//   total = alpha * LA-CE(view 0) + beta * contrastive(views 1-2)
//
// Presets (every one can be set in the config):
//   supcon_la  SupCon + LA-CE
//   bcl        + class averaging + class complement
//   rcl        SupCon + balance 1, feature scale s, margin m_max
//   bcl_rcl    BCL + the three RCL switches (the default recipe)
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/dist/context.h"
#include "ltcl/losses/classification.h"
#include "ltcl/losses/contrastive.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "rooms.h"

namespace ltcl::train::rooms {
namespace {

// RCL's scale and margin are not given by the paper text available here
// (METHODS.md section 3): chosen by the ablation in docs/results.md.
constexpr double kRclFeatureScale = 1.5;
constexpr double kRclMarginMax = 0.1;

// The embeddings of views 1 and 2 of a forward pass over 3b images (views
// 0, 1, 2 concatenated) as [b, 2, D], the contrastive loss's layout.
torch::Tensor contrastive_views(const models::NetworkOutput& o, int64_t b) {
  return torch::stack(
      {o.embeddings.slice(0, b, 2 * b), o.embeddings.slice(0, 2 * b, 3 * b)},
      1);
}

class ContrastiveCore : public Method {
 public:
  explicit ContrastiveCore(const Config& c) : loss_(c.loss) {}

  void configure(models::NetworkOptions& options) const override {
    options.prototype_head(loss_.contrastive.class_complement());
  }

  void setup(const MethodSetup& s) override {
    counts_ = s.counts;
    device_ = s.device;
    dist_ = &s.dist;
  }

  LossParts step(const pipeline::StepBatch& input, const StepEnv& env)
      override {
    const auto& batch = input.main;
    auto y = batch.labels.to(device_);
    const int64_t B = batch.labels.size(0);
    auto o = env.forward(torch::cat(batch.views, 0));
    auto logits0 = o.logits.slice(0, 0, B);
    auto z = contrastive_views(o, B);
    // Global batch for the contrastive term (identity in one process).
    auto global = dist::gather_for_contrastive(*dist_, z, y);
    auto protos = loss_.contrastive.class_complement()
        ? env.model->prototypes()
        : torch::Tensor();
    // The classification term is the local mean; the ranks' gradient
    // average makes it the global mean (equal local batches).
    auto cls = losses::functional::logit_adjusted_cross_entropy(
        logits0, y, counts_, loss_.logit_adjusted);
    auto con = losses::functional::contrastive_loss(
        global.features, global.labels, protos, counts_, loss_.contrastive);
    return {
        {"la_ce", cls},
        {"contrastive", con},
        {"total", loss_.alpha * cls + loss_.beta * con}};
  }

  // K micro-batches with the contrastive term over the whole batch (an
  // embedding cache, as in GradCache, Gao et al. 2021):
  //   1. a no-grad forward of each micro-batch (all three views, so that
  //      BatchNorm normalises as in pass 3) keeps its view 1-2 embeddings;
  //      the buffers are restored, so running statistics move once;
  //   2. the contrastive loss of all the cached embeddings (gathered over
  //      the ranks as in step()) gives d(beta * con) / dz for each of them
  //      and for the prototypes;
  //   3. each micro-batch again, with the graph: alpha * LA-CE / K plus
  //      <z, dz> (and, with the last one, <prototypes, d prototypes>, the
  //      prototypes computed once with their graph before pass 2) is
  //      backpropagated, which leaves the whole batch's gradient.
  // Exact but for BatchNorm: statistics are per micro-batch (as per rank
  // without SyncBN).
  LossParts accumulate(
      const std::vector<pipeline::StepBatch>& micro,
      const StepEnv& env) override {
    const auto k = static_cast<int64_t>(micro.size());
    std::vector<torch::Tensor> zs, ys;
    {
      BufferSnapshot keep(*env.model);
      torch::NoGradGuard no_grad;
      for (const auto& m : micro) {
        const int64_t b = m.main.labels.size(0);
        auto o = env.forward(torch::cat(m.main.views, 0));
        zs.push_back(contrastive_views(o, b));
        ys.push_back(m.main.labels.to(device_));
      }
    }
    auto z = torch::cat(zs, 0).requires_grad_(true);
    std::vector<torch::Tensor> inputs = {z};
    // The prototypes once (head_fc's BatchNorm moves its statistics once,
    // as in step()); their graph waits for the last backward.
    torch::Tensor protos_graph, protos;
    if (loss_.contrastive.class_complement()) {
      protos_graph = env.model->prototypes();
      protos = protos_graph.detach().requires_grad_(true);
      inputs.push_back(protos);
    }
    auto global = dist::gather_for_contrastive(*dist_, z, torch::cat(ys, 0));
    auto con = losses::functional::contrastive_loss(
        global.features, global.labels, protos, counts_, loss_.contrastive);
    auto grads = torch::autograd::grad({loss_.beta * con}, inputs);

    torch::Tensor cls_sum;
    int64_t offset = 0;
    for (int64_t i = 0; i < k; ++i) {
      const auto& batch = micro[static_cast<size_t>(i)].main;
      const int64_t b = batch.labels.size(0);
      auto o = env.forward(torch::cat(batch.views, 0));
      auto zi = contrastive_views(o, b);
      auto cls = losses::functional::logit_adjusted_cross_entropy(
          o.logits.slice(0, 0, b), ys[static_cast<size_t>(i)], counts_,
          loss_.logit_adjusted);
      auto gz = grads[0].slice(0, offset, offset + b);
      offset += b;
      auto surrogate = (loss_.alpha / static_cast<double>(k)) * cls +
          (zi.to(torch::kFloat) * gz.to(torch::kFloat)).sum();
      const bool last = i + 1 == k;
      if (last && protos.defined()) {
        surrogate = surrogate +
            (protos_graph.to(torch::kFloat) *
             grads[1].to(torch::kFloat))
                .sum();
      }
      env.last_backward(last);
      env.backward(surrogate);
      auto c = cls.detach() / static_cast<double>(k);
      cls_sum = cls_sum.defined() ? cls_sum + c : c;
    }
    con = con.detach();
    return {
        {"la_ce", cls_sum},
        {"contrastive", con},
        {"total", loss_.alpha * cls_sum + loss_.beta * con}};
  }

 private:
  LossConfig loss_;
  torch::Tensor counts_;
  torch::Device device_{torch::kCPU};
  const dist::Context* dist_ = nullptr;
};

void add_keys(ConfigSchema& s) {
  s.add(make_key<double>(
      "loss.alpha",
      LTCL_CONFIG_FIELD(double, loss.alpha),
      "Weight of LA-CE on view 0 (contrastive-core methods).",
      at_least(0.0)));
  s.add(make_key<double>(
      "loss.beta",
      LTCL_CONFIG_FIELD(double, loss.beta),
      "Weight of the contrastive term (contrastive-core methods).",
      at_least(0.0)));
  s.add(make_key<double>(
      "loss.temperature",
      LTCL_CONFIG_FIELD(double, loss.contrastive.temperature()),
      "Contrastive temperature tau (contrastive-core methods, Hybrid-SC).",
      positive()));
  s.add(make_key<bool>(
      "loss.class_averaging",
      LTCL_CONFIG_FIELD(bool, loss.contrastive.class_averaging()),
      "BCL class-averaged denominator (default: the method's preset)."));
  s.add(make_key<bool>(
      "loss.class_complement",
      LTCL_CONFIG_FIELD(bool, loss.contrastive.class_complement()),
      "Class prototypes join the keys (default: the method's preset)."));
  s.add(make_key<double>(
      "loss.balance",
      LTCL_CONFIG_FIELD(double, loss.contrastive.balance()),
      "RCL balance b: b * log pi_y added to key logits (preset: 1 for "
      "bcl_rcl/rcl, else 0).",
      at_least(0.0)));
  s.add(make_key<double>(
      "loss.feature_scale",
      LTCL_CONFIG_FIELD(double, loss.contrastive.feature_scale()),
      fmt::format(
          "RCL feature scale s (preset: {} for bcl_rcl/rcl, else 1).",
          kRclFeatureScale),
      positive()));
  s.add(make_key<double>(
      "loss.margin_max",
      LTCL_CONFIG_FIELD(double, loss.contrastive.margin_max()),
      fmt::format(
          "RCL largest positive-pair margin m_max (preset: {} for "
          "bcl_rcl/rcl, else 0).",
          kRclMarginMax),
      at_least(0.0)));
  add_la_tau_key(s);
}

MethodInfo core_method(
    std::string name,
    std::string summary,
    bool bcl,
    bool rcl) {
  MethodInfo m;
  m.name = std::move(name);
  m.summary = std::move(summary);
  m.traits.views = 3;
  m.traits.projection = true;
  m.traits.drop_last = true;
  m.traits.sync_bn = true;
  m.traits.accumulation = Accumulation::kOwn;
  m.keys = add_keys;
  m.preset = [bcl, rcl](Config& c) {
    auto& o = c.loss.contrastive;
    o.class_averaging(bcl).class_complement(bcl);
    o.balance(rcl ? 1.0 : 0.0);
    o.feature_scale(rcl ? kRclFeatureScale : 1.0);
    o.margin_max(rcl ? kRclMarginMax : 0.0);
  };
  m.check = [](const Config& c, const ConfigReport& report) {
    if (c.loss.alpha + c.loss.beta <= 0) {
      report(
          "loss.beta",
          fmt::format(
              "loss.alpha + loss.beta must be > 0, got {} + {}",
              c.loss.alpha,
              c.loss.beta));
    }
  };
  m.make = [](const Config& c) -> std::unique_ptr<Method> {
    return std::make_unique<ContrastiveCore>(c);
  };
  return m;
}

}  // namespace

void add_contrastive_core(std::vector<MethodInfo>& out) {
  out.push_back(core_method(
      "supcon_la", "SupCon + logit-adjusted CE", false, false));
  out.push_back(core_method(
      "bcl", "Balanced Contrastive Learning", true, false));
  out.push_back(core_method(
      "bcl_rcl", "BCL with Rebalanced Contrastive Learning", true, true));
  out.push_back(core_method(
      "rcl", "SupCon with Rebalanced Contrastive Learning", false, true));
}

}  // namespace ltcl::train::rooms
