#include "ltcl/dist/sync_batchnorm.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::dist {

namespace {

// Dims reduced for per-channel statistics: all but 1.
std::vector<int64_t> reduce_dims(const at::Tensor& input) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < input.dim(); ++d) {
    dims.push_back(d);
  }
  return dims;
}

// (C) -> (1, C, 1, ...) to broadcast against the input.
at::Tensor per_channel(const at::Tensor& v, const at::Tensor& input) {
  std::vector<int64_t> shape(input.dim(), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

// Half-precision inputs are normalised in float32.
at::ScalarType compute_type(const at::Tensor& input) {
  const auto t = input.scalar_type();
  return (t == at::kHalf || t == at::kBFloat16) ? at::kFloat : t;
}

struct SyncBatchNormBackward : torch::autograd::Node {
  Context ctx;
  at::Tensor x;       // input in the compute type, detached
  at::Tensor mean;    // (C), compute type
  at::Tensor invstd;  // (C), compute type
  at::Tensor weight;  // (C) detached, or undefined
  at::Tensor count;   // global element count per channel (0-d, float64)
  at::ScalarType input_type = at::kFloat;
  at::ScalarType weight_type = at::kFloat;

  torch::autograd::variable_list apply(
      torch::autograd::variable_list&& grads) override {
    at::NoGradGuard no_grad;
    const auto dims = reduce_dims(x);
    at::Tensor g =
        grads[0].defined() ? grads[0].to(x.scalar_type()) : at::zeros_like(x);
    at::Tensor xhat = (x - per_channel(mean, x)) * per_channel(invstd, x);
    at::Tensor sum_g = g.sum(dims);
    at::Tensor sum_gx = (g * xhat).sum(dims);
    torch::autograd::variable_list out(3);
    if (should_compute_output(0)) {
      // Every rank joins this all-reduce: the graph is the same everywhere.
      at::Tensor sums = at::cat({sum_g, sum_gx}).to(at::kDouble);
      ctx.all_reduce(sums, ReduceOp::kSum);
      const int64_t c = mean.size(0);
      at::Tensor mean_g = (sums.narrow(0, 0, c) / count).to(x.scalar_type());
      at::Tensor mean_gx = (sums.narrow(0, c, c) / count).to(x.scalar_type());
      at::Tensor scale =
          weight.defined() ? invstd * weight.to(x.scalar_type()) : invstd;
      at::Tensor gi =
          (g - per_channel(mean_g, x) - xhat * per_channel(mean_gx, x)) *
          per_channel(scale, x);
      out[0] = gi.to(input_type);
    }
    if (should_compute_output(1)) {
      out[1] = sum_gx.to(weight_type);
    }
    if (should_compute_output(2)) {
      out[2] = sum_g.to(weight_type);
    }
    return out;
  }

  std::string name() const override {
    return "ltcl::dist::SyncBatchNormBackward";
  }

  void release_variables() override {
    x.reset();
    mean.reset();
    invstd.reset();
    weight.reset();
  }
};

at::Tensor synced_forward(
    const Context& ctx,
    const at::Tensor& input,
    const at::Tensor& running_mean,
    const at::Tensor& running_var,
    const at::Tensor& weight,
    const at::Tensor& bias,
    double momentum,
    double eps) {
  at::Tensor x = input.detach().to(compute_type(input));
  const auto dims = reduce_dims(x);
  const int64_t c = x.size(1);
  const int64_t local_n = c > 0 ? x.numel() / c : 0;
  // Local count, mean and centred sum of squares, combined exactly (Chan et
  // al.) in float64 from every rank's 2C+1 numbers.
  at::Tensor local = at::zeros({1, 2 * c + 1}, x.options().dtype(at::kDouble));
  if (local_n > 0) {
    at::Tensor m = x.mean(dims);
    at::Tensor m2 = (x - per_channel(m, x)).square().sum(dims);
    local[0].narrow(0, 0, c).copy_(m);
    local[0].narrow(0, c, c).copy_(m2);
  }
  local[0][2 * c] = static_cast<double>(local_n);
  at::Tensor all = ctx.all_gather(local);       // (W, 2C+1)
  at::Tensor counts = all.narrow(1, 2 * c, 1);  // (W, 1)
  // The global count stays on the device (reading it back would stall a
  // GPU in every layer); only a rank with at most one value per channel,
  // where the global count may be too small, reads it to check.
  const at::Tensor n = counts.sum();
  if (local_n <= 1) {
    const double global = n.item<double>();
    TORCH_CHECK(
        global > 1,
        "dist::SyncBatchNorm - expected more than 1 value per channel across "
        "all ranks when training, got ",
        global,
        " (local input size ",
        input.sizes(),
        ")");
  }
  at::Tensor means = all.narrow(1, 0, c);
  at::Tensor m2s = all.narrow(1, c, c);
  at::Tensor mean64 = (means * counts).sum(0) / n;
  at::Tensor var64 =
      (m2s + counts * (means - mean64.unsqueeze(0)).square()).sum(0) / n;
  at::Tensor mean = mean64.to(x.scalar_type());
  at::Tensor invstd = (var64 + eps).rsqrt().to(x.scalar_type());
  {
    at::NoGradGuard no_grad;
    if (running_mean.defined()) {
      running_mean.mul_(1.0 - momentum)
          .add_(mean64.to(running_mean.scalar_type()), momentum);
    }
    if (running_var.defined()) {
      running_var.mul_(1.0 - momentum)
          .add_(
              (var64 * (n / (n - 1))).to(running_var.scalar_type()), momentum);
    }
  }
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = (x - per_channel(mean, x)) * per_channel(invstd, x);
    if (weight.defined()) {
      y = y * per_channel(weight.to(x.scalar_type()), x);
    }
    if (bias.defined()) {
      y = y + per_channel(bias.to(x.scalar_type()), x);
    }
    y = y.to(input.scalar_type());
  }
  if (torch::autograd::compute_requires_grad(input, weight, bias)) {
    auto node = std::shared_ptr<SyncBatchNormBackward>(
        new SyncBatchNormBackward(), torch::autograd::deleteNode);
    node->ctx = ctx;
    node->x = x;
    node->mean = mean;
    node->invstd = invstd;
    node->weight = weight.defined() ? weight.detach() : at::Tensor();
    node->count = n;
    node->input_type = input.scalar_type();
    node->weight_type =
        weight.defined() ? weight.scalar_type() : input.scalar_type();
    node->set_next_edges(
        torch::autograd::collect_next_edges(input, weight, bias));
    torch::autograd::set_history(y, node);
  }
  return y;
}

}  // namespace

namespace functional {

at::Tensor sync_batch_norm(
    const Context& ctx,
    const at::Tensor& input,
    const at::Tensor& running_mean,
    const at::Tensor& running_var,
    const at::Tensor& weight,
    const at::Tensor& bias,
    bool training,
    double momentum,
    double eps) {
  TORCH_CHECK(
      input.dim() >= 2,
      "dist::sync_batch_norm - input must be (N, C, ...), got ",
      input.sizes());
  if (!training || !ctx.distributed()) {
    return torch::nn::functional::detail::batch_norm(
        input,
        running_mean,
        running_var,
        weight,
        bias,
        training,
        momentum,
        eps);
  }
  return synced_forward(
      ctx, input, running_mean, running_var, weight, bias, momentum, eps);
}

}  // namespace functional

SyncBatchNormImpl::SyncBatchNormImpl(const SyncBatchNormOptions& options_)
    : options(options_) {
  if (options.num_features() <= 0) {
    fail(
        "dist::SyncBatchNorm - num_features must be positive: {{got {}}}",
        options.num_features());
  }
  if (!(options.eps() > 0.0)) {
    fail(
        "dist::SyncBatchNorm - eps must be positive: {{got {}}}",
        options.eps());
  }
  reset();
}

void SyncBatchNormImpl::reset() {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({c}));
    bias = register_parameter("bias", torch::empty({c}));
  } else {
    weight = register_parameter("weight", at::Tensor(), false);
    bias = register_parameter("bias", at::Tensor(), false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer(
        "num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
  } else {
    running_mean = register_buffer("running_mean", at::Tensor());
    running_var = register_buffer("running_var", at::Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", at::Tensor());
  }
  reset_parameters();
}

void SyncBatchNormImpl::reset_running_stats() {
  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    running_mean.zero_();
    running_var.fill_(1);
    num_batches_tracked.zero_();
  }
}

void SyncBatchNormImpl::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    torch::NoGradGuard no_grad;
    weight.fill_(1);
    bias.zero_();
  }
}

void SyncBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "ltcl::dist::SyncBatchNorm(" << options.num_features()
         << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum()) {
    stream << *options.momentum();
  } else {
    stream << "None";
  }
  stream << ", affine=" << (options.affine() ? "true" : "false")
         << ", track_running_stats="
         << (options.track_running_stats() ? "true" : "false")
         << ", world_size=" << context_.world_size() << ")";
}

at::Tensor SyncBatchNormImpl::forward(const at::Tensor& input) {
  TORCH_CHECK(
      input.dim() >= 2 && input.size(1) == options.num_features(),
      "dist::SyncBatchNorm - expected input (N, ",
      options.num_features(),
      ", ...), got ",
      input.sizes());
  // Same bookkeeping as torch::nn::BatchNormImplBase::forward.
  double factor = options.momentum() ? *options.momentum() : 0.0;
  if (is_training() && options.track_running_stats() &&
      num_batches_tracked.defined()) {
    num_batches_tracked += 1;
    if (!options.momentum()) {
      factor = 1.0 / num_batches_tracked.item<double>();
    }
  }
  // Like torch.nn.SyncBatchNorm: only training mode synchronises (eval
  // without running statistics normalises each rank's batch by itself).
  return functional::sync_batch_norm(
      is_training() ? context_ : Context(),
      input,
      running_mean,
      running_var,
      weight,
      bias,
      is_training() || !options.track_running_stats(),
      factor,
      options.eps());
}

int enable_sync_batchnorm(torch::nn::Module& module, const Context& ctx) {
  int count = 0;
  if (auto* self = dynamic_cast<SyncBatchNormImpl*>(&module)) {
    self->set_context(ctx);
    ++count;
  }
  for (const auto& m : module.modules(/*include_self=*/false)) {
    if (auto bn = std::dynamic_pointer_cast<SyncBatchNormImpl>(m)) {
      bn->set_context(ctx);
      ++count;
    }
  }
  return count;
}

}  // namespace ltcl::dist
