#pragma once
// SyncBatchNorm: batch normalisation whose training-time statistics are
// those of the GLOBAL batch, i.e. of all ranks' inputs together.
//
// Forward (per channel c, over the N*spatial elements of every rank):
//   each rank computes its count n_r, mean m_r and centred sum of squares
//   M2_r; these 2C+1 numbers are all-gathered and combined exactly (Chan):
//     n = sum_r n_r,  mean = sum_r n_r m_r / n,
//     var = (sum_r M2_r + n_r (m_r - mean)^2) / n        (biased, for y)
//   y = (x - mean) / sqrt(var + eps) * weight + bias;
//   running_mean <- (1 - momentum) running_mean + momentum mean,
//   running_var  <- (1 - momentum) running_var + momentum var * n / (n - 1).
// Backward (xhat = (x - mean) * invstd, g = dL/dy on this rank):
//   sum_g = sum over ALL ranks' elements of g, sum_gx = of g * xhat (one
//   all-reduce of 2C numbers), then
//     dL/dx = weight * invstd * (g - sum_g / n - xhat * sum_gx / n),
//   and this rank's dL/dweight = sum_local g * xhat, dL/dbias = sum_local g
//   (the GradReducer's averaging combines them across ranks like any
//   parameter gradient).
// The statistics are reduced in float64 (cheap: 2C+1 numbers per rank).
//
// A Context of world 1 (the default), eval mode with running statistics, or
// is_training() == false make it exactly torch::nn::BatchNorm{1,2,3}d: the
// same torch::batch_norm call with the same arguments. Its parameters and
// buffers have BatchNorm's names (weight, bias, running_mean, running_var,
// num_batches_tracked), so checkpoints are interchangeable.
//
// Using it: LibTorch modules hold their submodules in typed members, so a
// model's torch::nn::BatchNorm2d cannot be swapped after construction. Models
// that should support SyncBN declare their normalisation layers as
// ltcl::dist::SyncBatchNorm (world 1 = plain BN), and the trainer turns
// synchronisation on with enable_sync_batchnorm(*model, ctx).
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <ostream>

#include "ltcl/dist/context.h"

namespace ltcl::dist {

struct SyncBatchNormOptions {
  /* implicit */ SyncBatchNormOptions(int64_t num_features)
      : num_features_(num_features) {}
  // C, the size of dim 1 of the input (N, C, ...).
  TORCH_ARG(int64_t, num_features);
  TORCH_ARG(double, eps) = 1e-5;
  // nullopt: cumulative moving average (as torch::nn::BatchNorm).
  TORCH_ARG(std::optional<double>, momentum) = 0.1;
  TORCH_ARG(bool, affine) = true;
  TORCH_ARG(bool, track_running_stats) = true;
};

namespace functional {

// Batch norm over dim 1 with statistics synchronised across ctx's ranks when
// `training` and ctx.distributed(); otherwise exactly torch::batch_norm.
// running_mean / running_var (may be undefined) are updated in place with
// `momentum` when training.
at::Tensor sync_batch_norm(
    const Context& ctx,
    const at::Tensor& input,
    const at::Tensor& running_mean,
    const at::Tensor& running_var,
    const at::Tensor& weight,
    const at::Tensor& bias,
    bool training,
    double momentum,
    double eps);

}  // namespace functional

class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl> {
 public:
  explicit SyncBatchNormImpl(const SyncBatchNormOptions& options);

  void reset() override;
  void reset_running_stats();
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  // input: (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W).
  at::Tensor forward(const at::Tensor& input);

  // The ranks to synchronise over (world 1 by default: plain BN).
  void set_context(Context ctx) {
    context_ = std::move(ctx);
  }
  const Context& context() const {
    return context_;
  }

  SyncBatchNormOptions options;
  at::Tensor weight;
  at::Tensor bias;
  at::Tensor running_mean;
  at::Tensor running_var;
  at::Tensor num_batches_tracked;

 private:
  Context context_;
};

TORCH_MODULE(SyncBatchNorm);

// Attaches ctx to every SyncBatchNorm in module's tree (itself included);
// returns how many there are. With a world-1 context this turns
// synchronisation off again.
int enable_sync_batchnorm(torch::nn::Module& module, const Context& ctx);

}  // namespace ltcl::dist
