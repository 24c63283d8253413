#pragma once
// Mixed precision (train.amp) and memory format (train.channels_last) of the
// training forward pass.
//
//   Precision p("bf16", /*channels_last=*/true, device);
//   p.prepare(*model);                       // 4-D weights to NHWC
//   auto out = p.forward(*model, batch);     // autocast; float32 outputs
//
// amp bf16 / fp16: the network's forward runs under LibTorch's autocast for
// the device (the backbone's convolutions in the low-precision type; CPU
// autocast supports bf16 only, so fp16 needs CUDA); models::Network runs
// its heads (classifier, projection head) in float32 on float32 features,
// so logits and embeddings keep float32's precision; weights, gradients,
// optimizer state and every loss stay float32 (the contrastive core's exp /
// log-sum-exp needs the range). fp16 also needs loss scaling (train::LossScaler); bf16
// has float32's range and does not. Evaluation runs in float32.
// channels_last: 4-D weights and the input batches in NHWC order; the math
// is unchanged, only kernel choice and speed.
//
// "auto" is resolved once per run by resolve_precision. amp auto (opt-in;
// the default is none): bf16 on a CPU with AVX-512 BF16 (about 2.2x
// float32's step there with channels-last; BCL+RCL's accuracy kept, CE's
// 0.85 points lower over six paired seeds, five lower: docs/results.md), none elsewhere (CUDA included: not
// yet measured there). channels_last auto (the default): on for a CPU
// device, in float32 and bf16 alike (1.2-1.4x float32's step, accuracy
// unchanged at equal seeds: docs/results.md), off on CUDA (not measured
// there). The trainer records the resolved values in the run's
// config.yaml.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>

namespace torch::nn {
class Module;
}
namespace ltcl::models {
struct NetworkOutput;
class NetworkImpl;
}  // namespace ltcl::models

namespace ltcl::train {

// train.amp / train.channels_last with "auto" resolved for `device`.
struct PrecisionChoice {
  std::string amp;  // none | bf16 | fp16
  bool channels_last = false;
};

// amp: auto | none | bf16 | fp16; channels_last: auto | true | false.
// amp auto: bf16 when `device` is a CPU and `cpu_bf16` (the trainer passes
// auto_cpu_bf16()), else none. channels_last auto: on when `device` is a
// CPU, whatever the amp. Explicit values pass through.
// Throws ltcl::Error naming the key for any other value.
PrecisionChoice resolve_precision(
    const std::string& amp,
    const std::string& channels_last,
    c10::Device device,
    bool cpu_bf16);

// Whether this CPU (and the OS's saved register state) runs AVX-512 BF16
// instructions; false on non-x86 builds.
bool cpu_has_avx512_bf16();

// The `cpu_bf16` the trainer passes to resolve_precision: the environment
// variable LTCL_CPU_BF16 when set (1: as if the CPU had AVX-512 BF16, 0: as
// if not; the test suite sets 0 so that its float32 tolerances hold on
// every CPU), else cpu_has_avx512_bf16(). Throws ltcl::Error naming the
// variable for another value.
bool auto_cpu_bf16();

class Precision {
 public:
  // amp: "none", "bf16" or "fp16" (resolved: see resolve_precision).
  // Throws ltcl::Error naming train.amp for an unknown value or fp16 on a
  // CPU device.
  Precision(std::string amp, bool channels_last, c10::Device device);

  // channels_last: every 4-D parameter and buffer of `model` to NHWC.
  void prepare(torch::nn::Module& model) const;

  // The batch on the device, NHWC when channels_last.
  at::Tensor input(const at::Tensor& x) const;

  // model.forward(input(x)) under autocast when amp != none, outputs
  // (features, logits, embeddings) as float32. Autocast is off again on
  // return (and on an exception).
  models::NetworkOutput forward(
      models::NetworkImpl& model, const at::Tensor& x) const;

  const std::string& amp() const {
    return amp_;
  }
  bool channels_last() const {
    return channels_last_;
  }
  // fp16 needs loss scaling (see LossScaler).
  bool needs_loss_scaling() const {
    return amp_ == "fp16";
  }

 private:
  std::string amp_;
  bool channels_last_;
  c10::Device device_;
};

}  // namespace ltcl::train
