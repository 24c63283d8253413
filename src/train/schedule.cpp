#include "ltcl/train/schedule.h"

#include <cmath>

#include <fmt/ranges.h>

#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::train {

double learning_rate(
    const ScheduleConfig& s,
    double base_lr,
    int64_t epoch,
    int64_t step,
    int64_t steps_per_epoch) {
  if (steps_per_epoch < 1 || step < 0 || step >= steps_per_epoch ||
      epoch < 0 || epoch >= s.epochs) {
    fail(
        "learning_rate - position outside the run: {{epoch {} of {}, step {} "
        "of {}}}",
        epoch,
        s.epochs,
        step,
        steps_per_epoch);
  }
  const double S = static_cast<double>(steps_per_epoch);
  if (epoch < s.warmup_epochs) {
    return base_lr * (static_cast<double>(epoch) * S + step + 1) /
        (static_cast<double>(s.warmup_epochs) * S);
  }
  if (s.kind == "multistep") {
    int64_t passed = 0;
    for (int64_t m : s.milestones) {
      passed += epoch >= m ? 1 : 0;
    }
    return base_lr * std::pow(s.gamma, static_cast<double>(passed));
  }
  if (s.kind != "cosine") {
    fail("learning_rate - unknown schedule.kind '{}'", s.kind);
  }
  const double t = static_cast<double>(epoch - s.warmup_epochs) * S + step;
  const double T = static_cast<double>(s.epochs - s.warmup_epochs) * S;
  const double pi = std::acos(-1.0);
  return s.min_lr +
      (base_lr - s.min_lr) * 0.5 * (1.0 + std::cos(pi * t / T));
}

std::unique_ptr<torch::optim::SGD> make_sgd(
    torch::nn::Module& model,
    const OptimConfig& o) {
  auto options = torch::optim::SGDOptions(o.lr)
                     .momentum(o.momentum)
                     .nesterov(o.nesterov)
                     .weight_decay(o.weight_decay);
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) {
    if (!p.requires_grad()) {
      continue;
    }
    (o.no_decay_bn_bias && p.dim() <= 1 ? no_decay : decay).push_back(p);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      decay, std::make_unique<torch::optim::SGDOptions>(options));
  if (!no_decay.empty()) {
    auto nd = std::make_unique<torch::optim::SGDOptions>(options);
    nd->weight_decay(0.0);
    groups.emplace_back(no_decay, std::move(nd));
  }
  return std::make_unique<torch::optim::SGD>(std::move(groups), options);
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"sgd"};
  return names;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    torch::nn::Module& model,
    const OptimConfig& o) {
  if (o.optimizer == "sgd") {
    return make_sgd(model, o);
  }
  fail(
      "make_optimizer - unknown optim.optimizer '{}' (known: {})",
      o.optimizer,
      fmt::join(optimizer_names(), ", "));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    group.options().set_lr(lr);
  }
}

}  // namespace ltcl::train
