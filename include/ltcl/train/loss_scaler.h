#pragma once
// Dynamic loss scaling for fp16 training (the scheme of PyTorch's
// torch.cuda.amp.GradScaler, written for LibTorch, which has none):
//
//   auto scaled = scaler.scale(loss);  scaled.backward();
//   // (data parallel: average the gradients first)
//   bool ok = scaler.unscale(params);  // grads /= scale; all finite?
//   if (ok) optimizer.step();          // else the step is skipped
//   scaler.update(ok);
//
// The loss is multiplied by `scale` before backward so that small fp16
// gradients do not flush to zero. A step whose unscaled gradients hold an
// inf or NaN is skipped and the scale multiplied by `backoff`; after
// `growth_interval` finite steps in a row it is multiplied by `growth`.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace ltcl::train {

struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth = 2.0;
  double backoff = 0.5;
  int64_t growth_interval = 2000;
};

class LossScaler {
 public:
  // Throws ltcl::Error for a scale <= 0, growth <= 1, backoff outside
  // (0, 1) or an interval < 1.
  explicit LossScaler(LossScalerOptions options = {});

  at::Tensor scale(const at::Tensor& loss) const;
  // Divides every defined gradient of `params` by the scale, in place;
  // true when all of them are finite afterwards.
  bool unscale(const std::vector<at::Tensor>& params) const;
  // After the step decision: backoff on false, growth after
  // growth_interval trues in a row.
  void update(bool finite);

  double value() const {
    return scale_;
  }
  int64_t finite_steps() const {
    return finite_steps_;
  }
  // {scale, finite steps in a row} as a float64 tensor, for checkpoints.
  at::Tensor state() const;
  void load_state(const at::Tensor& state);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t finite_steps_ = 0;
};

}  // namespace ltcl::train
