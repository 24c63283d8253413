#pragma once
// Pretrained backbone weights from a PyTorch state dict (model.pretrained):
// a plain dict of name -> tensor in the zip format of PyTorch >= 1.6, as
// Python's torch.save(dict(model.state_dict()), path) or torch::pickle_save
// write it (LibTorch reads neither an OrderedDict nor the legacy format:
// the error gives the one-line re-save command), whose names follow
// torchvision's ResNet layout (conv1.weight, layer1.0.bn1.running_mean,
// ...). torchvision's ResNet-50 / ResNeXt-50 / ResNet-152 files load into
// ltcl's backbones of those names one to one; its `fc` is ignored (the
// classifier is the method's). Names may also carry a "backbone." or
// "module." prefix (an ltcl or a DataParallel state dict).
//
//   auto n = ltcl::models::load_pretrained_backbone(*net, "resnet152.pt");
//
// Throws ltcl::Error naming the file: missing or unreadable, not a plain
// state dict (with the re-save command), a backbone tensor it lacks, or a
// shape that differs. Nothing of the network
// changes unless every backbone tensor was found.
#include <cstdint>
#include <string>

namespace ltcl::models {

class NetworkImpl;

// Copies every backbone parameter and buffer; returns how many tensors.
int64_t load_pretrained_backbone(NetworkImpl& net, const std::string& path);

}  // namespace ltcl::models
