#include "ltcl/train/precision.h"

#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "ltcl/models/network.h"
#include "ltcl/util/autocast.h"
#include "ltcl/util/error.h"

namespace ltcl::train {

namespace {

// Autocast on for one device type and dtype while alive; the previous state
// is restored (and the cast-weight cache cleared at the outermost level)
// on destruction, as torch.autocast's __exit__ does.
class AutocastScope {
 public:
  AutocastScope(bool cuda, at::ScalarType dtype)
      : device_(cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU) {
    prev_enabled_ = util::autocast_enabled(device_);
    prev_dtype_ = util::autocast_dtype(device_);
    util::set_autocast_dtype(device_, dtype);
    util::set_autocast_enabled(device_, true);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    util::set_autocast_enabled(device_, prev_enabled_);
    util::set_autocast_dtype(device_, prev_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

torch::Tensor to_float(const torch::Tensor& t) {
  return t.defined() ? t.to(torch::kFloat) : t;
}

}  // namespace

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // libgcc / compiler-rt check CPUID and, for AVX-512, that the OS saves
  // the ZMM and mask registers (XGETBV).
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") != 0;
#else
  return false;
#endif
}

bool auto_cpu_bf16() {
  const char* v = std::getenv("LTCL_CPU_BF16");
  if (v == nullptr || *v == '\0') {
    return cpu_has_avx512_bf16();
  }
  const std::string s(v);
  if (s != "0" && s != "1") {
    fail("LTCL_CPU_BF16: must be 0 or 1 (or unset), got '{}'", s);
  }
  return s == "1";
}

PrecisionChoice resolve_precision(
    const std::string& amp,
    const std::string& channels_last,
    c10::Device device,
    bool cpu_bf16) {
  PrecisionChoice p;
  if (amp == "auto") {
    p.amp = device.is_cpu() && cpu_bf16 ? "bf16" : "none";
  } else if (amp == "none" || amp == "bf16" || amp == "fp16") {
    p.amp = amp;
  } else {
    fail("train.amp: must be auto, none, bf16 or fp16, got '{}'", amp);
  }
  if (channels_last == "auto") {
    p.channels_last = device.is_cpu();
  } else if (channels_last == "true" || channels_last == "false") {
    p.channels_last = channels_last == "true";
  } else {
    fail(
        "train.channels_last: must be auto, true or false, got '{}'",
        channels_last);
  }
  return p;
}

Precision::Precision(std::string amp, bool channels_last, c10::Device device)
    : amp_(std::move(amp)), channels_last_(channels_last), device_(device) {
  if (amp_ != "none" && amp_ != "bf16" && amp_ != "fp16") {
    fail("train.amp: must be none, bf16 or fp16, got '{}'", amp_);
  }
  if (amp_ == "fp16" && !device_.is_cuda()) {
    fail(
        "train.amp: 'fp16' needs a CUDA device (LibTorch's CPU autocast "
        "supports bf16 only); the run is on {}: use bf16 or none",
        device_.str());
  }
}

void Precision::prepare(torch::nn::Module& model) const {
  if (!channels_last_) {
    return;
  }
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) {
      p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  for (auto& b : model.buffers()) {
    if (b.dim() == 4) {
      b.set_data(b.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

at::Tensor Precision::input(const at::Tensor& x) const {
  auto y = x.to(device_);
  if (channels_last_ && y.dim() == 4) {
    y = y.contiguous(at::MemoryFormat::ChannelsLast);
  }
  return y;
}

models::NetworkOutput Precision::forward(
    models::NetworkImpl& model, const at::Tensor& x) const {
  auto in = input(x);
  if (amp_ == "none") {
    return model.forward(in);
  }
  models::NetworkOutput out;
  {
    AutocastScope scope(
        device_.is_cuda(), amp_ == "bf16" ? at::kBFloat16 : at::kHalf);
    out = model.forward(in);
  }
  out.features = to_float(out.features);
  out.logits = to_float(out.logits);
  // Normalised in the low-precision type (bf16 keeps ~3 digits): normalised
  // again in float32 so the contrastive losses get unit vectors.
  if (out.embeddings.defined()) {
    out.embeddings = torch::nn::functional::normalize(
        to_float(out.embeddings),
        torch::nn::functional::NormalizeFuncOptions().dim(1));
  }
  return out;
}

}  // namespace ltcl::train
