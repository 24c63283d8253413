#include "ltcl/augment/recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ltcl/augment/rand_augment_timm.h"
#include "ltcl/data/kinds.h"
#include "ltcl/util/error.h"

namespace ltcl::augment {

DatasetStats DatasetStats::known(
    const std::string& name, int height, int width, int channels) {
  if (height <= 0 || width <= 0) {
    fail(
        "DatasetStats - image size must be positive: {{dataset '{}', got "
        "{}x{}}}",
        name,
        height,
        width);
  }
  if (channels != 1 && channels != 3) {
    fail(
        "DatasetStats - channels must be 1 or 3: {{dataset '{}', got {}}}",
        name,
        channels);
  }
  DatasetStats s;
  s.name = name;
  s.height = height;
  s.width = width;
  s.channels = channels;
  const data::Normalization n = data::normalization_of(name);
  s.mean = n.mean;
  s.std = n.std;
  // Match the image's channels: gray constants repeat, RGB ones average.
  if (static_cast<int>(s.mean.size()) != channels) {
    if (channels == 3) {
      s.mean.assign(3, s.mean[0]);
      s.std.assign(3, s.std[0]);
    } else {
      float m = (s.mean[0] + s.mean[1] + s.mean[2]) / 3;
      float d = (s.std[0] + s.std[1] + s.std[2]) / 3;
      s.mean = {m};
      s.std = {d};
    }
  }
  return s;
}

DatasetStats DatasetStats::of(
    const std::string& name, const data::Dataset& data) {
  if (data.size() == 0) {
    fail("DatasetStats::of - dataset '{}' is empty", name);
  }
  const data::Example e = data.get(0);
  return known(name, e.image.height, e.image.width, e.image.channels);
}

const std::vector<std::string>& recipe_names() {
  static const std::vector<std::string> names = {
      "cifar_weak",
      "cifar_autoaug_cutout",
      "cifar_weak_cutout",
      "simclr",
      "simclr_blur",
      "imagenet_standard",
      "imagenet_randaug",
      "imagenet_autoaug",
      "imagenet_randcls",
      "imagenet_randclsstack",
      "imagenet_sim",
      "eval"};
  return names;
}

namespace {

// Resize (shorter side) + CenterCrop to size x size, for images of another
// size; nothing for those already size x size. Draws no random number.
Transform fit(int size) {
  Transform r = resize(size);
  Transform c = center_crop(size);
  return [r, c, size](Image& image, Rng& rng) {
    if (image.height == size && image.width == size) {
      return;
    }
    r(image, rng);
    c(image, rng);
  };
}

}  // namespace

Recipe make_recipe(const std::string& name, const DatasetStats& stats) {
  const auto& names = recipe_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    fail(
        "make_recipe - unknown recipe: {{got '{}'; valid: {}}}",
        name,
        fmt::join(names, ", "));
  }
  const bool large = stats.large();
  if (!large && stats.height != stats.width && name != "eval") {
    fail(
        "make_recipe - recipe '{}' needs square images: {{dataset '{}' is "
        "{}x{}; set data.image_size}}",
        name,
        stats.name,
        stats.height,
        stats.width);
  }
  const int size =
      stats.image_size > 0 ? stats.image_size : (large ? 224 : stats.height);
  const bool square = stats.height == stats.width;
  Recipe r{
      name,
      nullptr,
      Normalize(stats.mean, stats.std),
      stats.channels,
      size,
      size};
  if (name == "cifar_weak") {
    r.augment = compose(
        {fit(size), random_crop(size, 4), random_horizontal_flip(0.5)});
  } else if (name == "cifar_autoaug_cutout") {
    r.augment = compose(
        {fit(size),
         random_crop(size, 4),
         random_horizontal_flip(0.5),
         auto_augment_cifar10(),
         cutout(1, 16)});
  } else if (name == "cifar_weak_cutout") {
    r.augment = compose(
        {fit(size),
         random_crop(size, 4),
         random_horizontal_flip(0.5),
         cutout(1, std::max(1, size / 2))});
  } else if (name == "simclr") {
    r.augment = compose(
        {random_resized_crop(size, {0.08, 1.0}),
         random_horizontal_flip(0.5),
         random_apply(color_jitter(0.4, 0.4, 0.4, 0.1), 0.8),
         random_grayscale(0.2)});
  } else if (name == "simclr_blur") {
    // simclr + GaussianBlur(sigma 0.1 .. 2) with p 0.5 (MoCo v2; PaCo's
    // second view), the kernel about a tenth of the side, odd, >= 3.
    const int k = std::max(3, 2 * static_cast<int>(std::lround(size * 0.05)) + 1);
    r.augment = compose(
        {random_resized_crop(size, {0.08, 1.0}),
         random_horizontal_flip(0.5),
         random_apply(color_jitter(0.4, 0.4, 0.4, 0.1), 0.8),
         random_grayscale(0.2),
         random_apply(gaussian_blur(k, 0.1, 2.0), 0.5)});
  } else if (name == "imagenet_standard") {
    // Kang et al.'s ImageNet-LT training transform (classifier-balancing:
    // stage 1 and the decoupled stage 2).
    r.augment = compose(
        {random_resized_crop(size, {0.08, 1.0}),
         random_horizontal_flip(0.5),
         color_jitter(0.4, 0.4, 0.4, 0.0)});
  } else if (name == "imagenet_randaug") {
    r.augment = compose(
        {random_resized_crop(size, {0.08, 1.0}),
         random_horizontal_flip(0.5),
         color_jitter(0.4, 0.4, 0.4, 0.0),
         rand_augment(2, 10)});
  } else if (name == "imagenet_randcls" || name == "imagenet_randclsstack" ||
             name == "imagenet_sim") {
    // PaCo / GPaCo's ImageNet-LT views (their paco_lt.py: augmentation_
    // randncls, _randnclsstack, _sim): timm's RandAugment 'rand-n2-m10-
    // mstd0.5' with the ImageNet mean as fill; the blur is MoCo v2's (sigma
    // 0.1-2, p 0.5) with simclr_blur's kernel.
    const int k = std::max(3, 2 * static_cast<int>(std::lround(size * 0.05)) + 1);
    std::vector<Transform> t = {random_resized_crop(size, {0.08, 1.0})};
    if (name == "imagenet_sim") {
      t.push_back(color_jitter(0.4, 0.4, 0.4, 0.0));
      t.push_back(random_grayscale(0.2));
      t.push_back(random_apply(gaussian_blur(k, 0.1, 2.0), 0.5));
      t.push_back(random_horizontal_flip(0.5));
    } else {
      t.push_back(random_horizontal_flip(0.5));
      t.push_back(color_jitter(0.4, 0.4, 0.4, 0.0));
      if (name == "imagenet_randclsstack") {
        t.push_back(random_grayscale(0.2));
        t.push_back(random_apply(gaussian_blur(k, 0.1, 2.0), 0.5));
      }
      t.push_back(rand_augment_timm());
    }
    r.augment = compose(std::move(t));
  } else if (name == "imagenet_autoaug") {
    r.augment = compose(
        {random_resized_crop(size, {0.08, 1.0}),
         random_horizontal_flip(0.5),
         auto_augment_imagenet()});
  } else {  // eval
    if (large) {
      const int side = static_cast<int>(std::lround(size * 256.0 / 224.0));
      r.augment = compose({resize(side), center_crop(size)});
    } else if (square) {
      r.augment = fit(size);
    } else {
      r.augment = [](Image&, Rng&) {};
      r.height = stats.height;
      r.width = stats.width;
    }
  }
  return r;
}

std::vector<std::string> split_recipe_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    std::string item = list.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) {
      fail("split_recipe_list - empty recipe name in '{}'", list);
    }
    out.push_back(item);
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

}  // namespace ltcl::augment
