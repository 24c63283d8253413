#include "ltcl/models/mode_guard.h"

namespace ltcl::models {

EvalModeGuard::EvalModeGuard(torch::nn::Module& module)
    : root_(module), root_mode_(module.is_training()) {
  for (const auto& m : module.modules(/*include_self=*/false)) {
    modes_.emplace_back(m, m->is_training());
  }
  module.eval();
}

EvalModeGuard::~EvalModeGuard() {
  // Module::train(on) sets the whole subtree: the root first, then each
  // descendant back to its own recorded mode (modules() lists parents
  // before their children, so a child's mode is set last).
  root_.train(root_mode_);
  for (auto& [m, training] : modes_) {
    m->train(training);
  }
}

}  // namespace ltcl::models
