#pragma once
// Stages (METHODS.md section 8): a run that starts from another ltcl run's
// checkpoint (model.init_from, model.init_from_parts) and trains only a
// part of the model (model.freeze backbone, model.freeze_bn), e.g. cRT: the
// stage-1 backbone kept, a new classifier trained on it.
//
//   auto r = ltcl::train::init_from_checkpoint(*net, "s1/best.pt", "backbone");
//   ltcl::train::freeze_parts(*net, "backbone");  // before the optimizer
#include <cstdint>
#include <string>

namespace ltcl::models {
class NetworkImpl;
}

namespace ltcl::train {

struct InitFromReport {
  std::string path;
  std::string parts;
  uint32_t crc32 = 0;   // of the checkpoint file (zlib's CRC-32)
  int64_t tensors = 0;  // parameters and buffers copied
};

// Copies `parts` (backbone | backbone_classifier | all) of the model saved
// in the ltcl checkpoint `path` into `model`. Every parameter and buffer of
// that part of `model` must be in the checkpoint's model under the same
// name with the same shape; all are checked before the first copy, so on
// an ltcl::Error (naming the file and the mismatches) `model` is
// unchanged. The source's own extra tensors (e.g. stage 1's projection
// head) are ignored.
InitFromReport init_from_checkpoint(
    models::NetworkImpl& model,
    const std::string& path,
    const std::string& parts);

// model.freeze: requires_grad false on every parameter of `parts`:
// backbone, or backbone_classifier (the classifier's weight and bias too,
// for LWS; not class_scale). The optimizer and the gradient reducer then
// leave them out, and backward stops at what trains. Returns how many
// were frozen; throws ltcl::Error on another name or when nothing matched.
int64_t freeze_parts(models::NetworkImpl& model, const std::string& parts);

// CRC-32 of a file's bytes; throws ltcl::Error naming an unreadable file.
uint32_t file_crc32(const std::string& path);

}  // namespace ltcl::train
