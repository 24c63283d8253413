#pragma once
// Named augmentation recipes (METHODS.md sections 4-6) and dataset constants.
//
// A Recipe is the full pipeline of one view: uint8 augmentation, then
// normalisation to float CHW of a fixed output shape (known up front, so the
// loader can preallocate batch tensors).
#include <algorithm>
#include <string>
#include <vector>

#include "ltcl/augment/transforms.h"
#include "ltcl/data/dataset.h"

namespace ltcl::augment {

// What a recipe needs to know about the dataset: its name (picks mean/std),
// the size of its images and their channel count.
struct DatasetStats {
  std::string name;  // "cifar10", "cifar100", "imagenet", "mnist", ...
  int height = 32;
  int width = 32;
  int channels = 3;
  std::vector<float> mean;  // one entry per channel
  std::vector<float> std;
  // The recipes' output side when set (data.image_size; height and width
  // then equal it too): images of another size are first resized (shorter
  // side) and centre-cropped to it. 0: 224 for ImageNet-sized data, else the
  // images' own size.
  int image_size = 0;

  // The normalisation constants of a dataset kind or alias
  // (data::normalization_of: CIFAR-10/100, ImageNet (also imagenet_lt,
  // places_lt, inat), MNIST, Fashion-MNIST); other names get mean 0.5, std
  // 0.5. Throws ltcl::Error for non-positive sizes or channels not 1 or 3.
  static DatasetStats known(
      const std::string& name, int height, int width, int channels);
  // known(name, ...) with the size and channels of dataset sample 0.
  static DatasetStats of(const std::string& name, const data::Dataset& data);

  // ImageNet-sized: the shorter side exceeds 64 pixels.
  bool large() const {
    return std::min(height, width) > 64;
  }
};

struct Recipe {
  std::string name;
  Transform augment;  // uint8 -> uint8
  Normalize normalize;
  int channels = 3;  // output shape [channels, height, width]
  int height = 32;
  int width = 32;
};

// Recipe names make_recipe knows, in a stable order.
const std::vector<std::string>& recipe_names();

// Builds a named recipe for a dataset:
//   cifar_weak            RandomCrop(size, pad 4) + flip
//   cifar_autoaug_cutout  cifar_weak + AutoAugment CIFAR-10 + Cutout(1, 16)
//   cifar_weak_cutout     cifar_weak + Cutout(1, size / 2) (16 at 32x32)
//   simclr                RandomResizedCrop(size, 0.08-1) + flip
//                         + RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), 0.8)
//                         + RandomGrayscale(0.2)
//   imagenet_randaug      RandomResizedCrop(size, 0.08-1) + flip
//                         + ColorJitter(0.4, 0.4, 0.4) + RandAugment(2, 10)
//   imagenet_autoaug      RandomResizedCrop(size, 0.08-1) + flip
//                         + AutoAugment ImageNet
//   imagenet_randcls      RandomResizedCrop(size, 0.08-1) + flip
//                         + ColorJitter(0.4, 0.4, 0.4) + timm's RandAugment
//                         n2 m10 mstd0.5 (rand_augment_timm.h): PaCo's view
//   imagenet_randclsstack imagenet_randcls + RandomGrayscale(0.2) + blur
//                         (p 0.5) before the RandAugment: GPaCo's 2nd view
//   imagenet_sim          RandomResizedCrop + ColorJitter(0.4, 0.4, 0.4) +
//                         RandomGrayscale(0.2) + blur (p 0.5) + flip: PaCo's
//                         2nd view
//   eval                  normalise only (small images); Resize(256) +
//                         CenterCrop(224) for ImageNet-sized ones
//                         (Resize(size * 256 / 224) + CenterCrop(size) for
//                         another image_size)
// size = stats.image_size when set, else the dataset's image size for small
// images (crops keep the shape; images must be square), 224 for
// ImageNet-sized ones. For small images, cifar_weak, cifar_autoaug_cutout
// and eval first fit an image of another size to size x size (Resize of the
// shorter side, CenterCrop; nothing for images already that size), so
// folders of mixed sizes work. An unknown name throws ltcl::Error listing
// the valid ones.
Recipe make_recipe(const std::string& name, const DatasetStats& stats);

// Splits "a,b,c" into names (empty entries rejected).
std::vector<std::string> split_recipe_list(const std::string& list);

}  // namespace ltcl::augment
