#pragma once
// A trained Network as a self-contained TorchScript model: Python
// (`torch.jit.load`) and LibTorch (`torch::jit::load`) run it without ltcl.
//
// The network is written out as TorchScript source (straight-line calls of
// the same ATen operators Network::forward uses, in eval mode: BatchNorm
// with its running statistics) and compiled with the weights attached, so
// its outputs equal ltcl's own forward up to float rounding. The module has
//
//   forward(x: Tensor[N, C, H, W] float, normalised) -> logits [N, classes]
//                    (after the network's evaluation-time transform,
//                    NetworkOptions::adjust, as ltcl eval / predict)
//   features(x) -> backbone features [N, feature_dim]
//   embeddings(x) -> L2-normalised projections [N, proj_dim]
//                    (only when the network has a projection head)
//   preprocess(images: Tensor[N, H, W, C] uint8) -> x, ltcl's
//                    normalisation ((v / 255 - mean) / std per channel);
//                    resizing / cropping to `input_size` is the caller's
//   class_names: List[str], input_size: List[int] (C, H, W), mean / std:
//   List[float], ltcl_info: str (JSON: arch, method, class counts, ...),
//   logit_adjust: str (the transform forward applies: "none",
//   "posthoc_la (tau 1)", "tau_norm (tau 0.5, no bias)")
//
// Parameters and buffers keep ltcl's names with '.' replaced by '_'
// ("backbone.layer1.0.conv1.weight" -> backbone_layer1_0_conv1_weight).
// The projection head's and classifier's weights are exported; training-only
// modules (BCL's head_fc, ResCom's queue, PSC's prototypes) are not.
#include <cstdint>
#include <string>
#include <vector>

namespace ltcl::models {

class NetworkImpl;

struct ExportOptions {
  std::vector<std::string> class_names;  // one per class
  std::vector<float> mean;  // per channel (1 entry: every channel)
  std::vector<float> std;
  int64_t channels = 3;
  int64_t height = 32;
  int64_t width = 32;
  std::string info_json = "{}";  // stored as the ltcl_info attribute
};

// The TorchScript source of `net`'s methods (for reading and tests).
std::string torchscript_source(const NetworkImpl& net, const ExportOptions& o);

// Writes `net` (weights copied to the CPU, float32) as a TorchScript archive
// at `path`, atomically. Throws ltcl::Error naming the file, or naming the
// module that has no TorchScript form.
void export_torchscript(
    const NetworkImpl& net,
    const std::string& path,
    const ExportOptions& options);

}  // namespace ltcl::models
