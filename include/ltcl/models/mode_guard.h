#pragma once
// Evaluation mode for the life of a scope, every submodule's own mode back
// afterwards (also when an exception leaves the scope).
//
//   {
//     ltcl::models::EvalModeGuard eval_mode(model);  // model.eval()
//     ...                                            // forward passes
//   }  // each module as it was: a method's frozen backbone (kept in eval
//      // mode while the rest trains) stays in eval mode
//
// model.train(was_training) would put every submodule in one mode and
// undo such a freeze.
#include <torch/nn/module.h>

#include <memory>
#include <utility>
#include <vector>

namespace ltcl::models {

class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& module);
  ~EvalModeGuard();
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> modes_;
  torch::nn::Module& root_;
  bool root_mode_;
};

}  // namespace ltcl::models
