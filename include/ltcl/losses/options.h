#pragma once
// The options of every loss, in one light header (only <torch/arg.h>), so
// that configuration code can hold them without the tensor headers: the
// training config (train/config.h) keeps these structs as its loss
// parameters, and their defaults are the defaults of the config keys.
#include <torch/arg.h>

#include <cstdint>

namespace ltcl::losses {

struct LogitAdjustedLossOptions {
  // Weight of the log prior; 1 = the paper's default.
  TORCH_ARG(double, tau) = 1.0;
};

struct LDAMLossOptions {
  // Largest margin (the rarest class's), in cosine units.
  TORCH_ARG(double, max_margin) = 0.5;
  // Logit scale s.
  TORCH_ARG(double, scale) = 30.0;
};

struct FocalLossOptions {
  // Focusing parameter (>= 0; 0 gives CE).
  TORCH_ARG(double, gamma) = 2.0;
};

struct ContrastiveLossOptions {
  // tau > 0.
  TORCH_ARG(double, temperature) = 0.1;
  // BCL class-averaged denominator.
  TORCH_ARG(bool, class_averaging) = false;
  // BCL class complement: prototypes must be passed (and only then).
  TORCH_ARG(bool, class_complement) = false;
  // RCL feature-space balancedness b (0 = off, 1 = Balanced Softmax).
  TORCH_ARG(double, balance) = 0.0;
  // RCL feature scale s > 0 (1 = off).
  TORCH_ARG(double, feature_scale) = 1.0;
  // RCL tail margin m_max >= 0 (0 = off), in cosine units (divided by tau).
  TORCH_ARG(double, margin_max) = 0.0;
};

struct PSCLossOptions {
  TORCH_ARG(double, temperature) = 0.1;
};

struct ResComLossOptions {
  TORCH_ARG(double, temperature) = 0.2;
  // Least-similar same-class queue keys kept per anchor.
  TORCH_ARG(int64_t, k_pos) = 1;
  // Most-similar other-class queue keys kept per anchor.
  TORCH_ARG(int64_t, k_neg) = 400;
};

}  // namespace ltcl::losses
