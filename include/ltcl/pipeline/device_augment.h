#pragma once
// Augmentation of whole batches as tensor ops, on the device the images
// live on (a GPU: the images decoded once into device memory; the CPU runs
// the same code, which is how it is tested).
//
// Two recipes have a batched form: cifar_weak (pad 4 + random crop + flip)
// and simclr (random-resized crop + flip + colour jitter with p 0.8 +
// grayscale with p 0.2), for images already at the recipe's size. Their
// random parameters are drawn on the host, per sample and view, through the
// same augment::draw_* functions and from the same keyed generator
// (pipeline::view_rng) as the CPU recipes, so a device batch holds the same
// crops, flips and jitter factors as the loader's. The pixels differ only by
// rounding: cifar_weak not at all (integer gathers), simclr by the uint8
// rounding the CPU applies after each colour op and in OpenCV's fixed-point
// bilinear resize (tests/pipeline/device_augment.cpp measures both).
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ltcl/augment/recipe.h"
#include "ltcl/augment/transforms.h"
#include "ltcl/util/random.h"

namespace ltcl::pipeline {

struct DeviceRecipe {
  enum class Kind { kCropFlip, kSimclr };
  std::string name;
  Kind kind = Kind::kCropFlip;
  int size = 32;     // output side; the images must be size x size
  int channels = 3;  // 1 or 3
  std::vector<float> mean;
  std::vector<float> std;
};

// Whether recipe `name` has a batched form (cifar_weak, simclr).
bool has_device_recipe(const std::string& name);
// The batched form of make_recipe(name, stats). Throws ltcl::Error for a
// recipe without one, or images that are not square at the recipe's size.
DeviceRecipe make_device_recipe(
    const std::string& name, const augment::DatasetStats& stats);

// One sample's draws, as the CPU recipe makes them.
struct ViewDraw {
  augment::ResizedCropWindow window;  // crop: top/left in the padded image
  bool flip = false;
  bool jitter = false;  // simclr: the colour jitter applied (p 0.8)
  augment::JitterDraw colour;
  bool gray = false;  // simclr: grayscale (p 0.2)
};
ViewDraw draw_view(const DeviceRecipe& recipe, util::Rng& rng);

// images: uint8 [B, C, size, size] on any device; draws: B entries. Returns
// the normalised float32 views [B, C, size, size] on the images' device.
at::Tensor apply_device_recipe(
    const DeviceRecipe& recipe,
    const at::Tensor& images,
    const std::vector<ViewDraw>& draws);

}  // namespace ltcl::pipeline
