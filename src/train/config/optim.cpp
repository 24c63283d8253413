// The `optim:` section.
#include "ltcl/train/config.h"
#include "ltcl/train/schedule.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_optim_keys(ConfigSchema& s) {
  s.add(make_key<std::string>(
      "optim.optimizer",
      LTCL_CONFIG_FIELD(std::string, optim.optimizer),
      "Optimizer (train/schedule.h make_optimizer): sgd (momentum, "
      "nesterov, weight decay as below).",
      {},
      optimizer_names()));
  s.add(make_key<double>(
      "optim.lr",
      LTCL_CONFIG_FIELD(double, optim.lr),
      "Base learning rate.",
      positive()));
  s.add(make_key<double>(
      "optim.momentum",
      LTCL_CONFIG_FIELD(double, optim.momentum),
      "SGD momentum, in [0, 1).",
      in_range(0, 1, true)));
  s.add(make_key<bool>(
      "optim.nesterov",
      LTCL_CONFIG_FIELD(bool, optim.nesterov),
      "Nesterov momentum (needs momentum > 0)."));
  s.add(make_key<double>(
      "optim.weight_decay",
      LTCL_CONFIG_FIELD(double, optim.weight_decay),
      "L2 weight decay.",
      in_range(0.0, 1.0, false)));
  s.add(make_key<bool>(
      "optim.no_decay_bn_bias",
      LTCL_CONFIG_FIELD(bool, optim.no_decay_bn_bias),
      "No weight decay on 1-d parameters (BatchNorm weights, biases)."));
  s.add(make_key<int64_t>(
      "optim.batch_size",
      LTCL_CONFIG_FIELD(int64_t, optim.batch_size),
      "Images per step (global batch).",
      int_range(1, kMaxBatch)));
  s.add(make_key<int64_t>(
      "optim.accumulation_steps",
      LTCL_CONFIG_FIELD(int64_t, optim.accumulation_steps),
      "Gradient accumulation: each rank's batch is split into this many "
      "micro-batches (interleaved, so that 1 process x K equals K processes "
      "x 1), one optimizer step per global batch.",
      int_range(1, 4096)));
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.optim.batch_size % c.optim.accumulation_steps != 0) {
      report(
          "optim.accumulation_steps",
          fmt::format(
              "optim.accumulation_steps: the batch {} is not divisible by "
              "{} micro-batches",
              c.optim.batch_size,
              c.optim.accumulation_steps));
    }
  });
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.optim.nesterov && c.optim.momentum <= 0) {
      report(
          "optim.nesterov",
          fmt::format(
              "optim.nesterov needs optim.momentum > 0, got {}",
              c.optim.momentum));
    }
  });
}

}  // namespace ltcl::train::config_sections
