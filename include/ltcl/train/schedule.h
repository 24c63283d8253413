#pragma once
// Learning-rate schedules and the optimizer helper.
//
// The lr is a pure function of the position in the run (epoch, step in the
// epoch, steps per epoch), so a resumed run recomputes exactly the lr the
// uninterrupted run had; nothing about the schedule needs saving.
//
//   warm-up (epoch < W):  lr = base * (epoch * S + step + 1) / (W * S)
//   cosine:               t = (epoch - W) * S + step, T = (E - W) * S,
//                         lr = min + (base - min) * (1 + cos(pi * t / T)) / 2
//   multistep:            lr = base * gamma ^ #{milestones m : epoch >= m}
//
// (E = schedule.epochs, W = warmup_epochs, S = steps per epoch.)
#include <cstdint>
#include <memory>

#include "ltcl/train/config.h"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
class SGD;
}  // namespace torch::optim

namespace ltcl::train {

// The lr of step `step` (0-based) of epoch `epoch` (0-based). Throws
// ltcl::Error for a position outside the run.
double learning_rate(
    const ScheduleConfig& schedule,
    double base_lr,
    int64_t epoch,
    int64_t step,
    int64_t steps_per_epoch);

// SGD over the model's parameters with the config's momentum, nesterov and
// weight decay. With optim.no_decay_bn_bias, parameters of dimension <= 1
// (BatchNorm weights and every bias) go to a second group without decay.
std::unique_ptr<torch::optim::SGD> make_sgd(
    torch::nn::Module& model,
    const OptimConfig& optim);

// The optimizers make_optimizer builds, by optim.optimizer: sgd (make_sgd). One
// entry per optimizer; checkpoints (checkpoint.cpp) hold each one's state.
const std::vector<std::string>& optimizer_names();
// The optimizer optim.optimizer names over the model's trainable parameters;
// throws ltcl::Error listing the names for another.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    torch::nn::Module& model,
    const OptimConfig& optim);

// Sets the lr of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace ltcl::train
