// The `data:` section.
#include <algorithm>

#include <fmt/ranges.h>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/kinds.h"
#include "ltcl/data/sampler.h"
#include "ltcl/train/config.h"
#include "ltcl/util/printable.h"
#include "sections.h"

namespace ltcl::train::config_sections {
namespace {

// Empty for a recipe augment::make_recipe knows, else why not (checked with
// the config, not when the run builds its loaders).
std::string unknown_recipe(const std::string& name) {
  const auto& names = augment::recipe_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) {
    return std::string();
  }
  return fmt::format(
      "unknown recipe '{}' (known: {})", printable(name), fmt::join(names, ", "));
}

}  // namespace

void add_data_keys(ConfigSchema& s) {
  using Str = std::string;
  using Strs = std::vector<std::string>;
  std::string kinds;
  for (const auto& k : data::dataset_kinds()) {
    kinds += fmt::format("{}{}: {}", kinds.empty() ? "" : "; ", k.name, k.help);
  }
  s.add(make_key<Str>(
      "data.dataset",
      LTCL_CONFIG_FIELD(Str, data.dataset),
      fmt::format("Dataset kind ({}).", kinds),
      {},
      data::dataset_kind_names()));
  s.add(make_key<Str>(
      "data.root",
      LTCL_CONFIG_FIELD(Str, data.root),
      "Data folder (empty: the kind's default, e.g. Debian's "
      "/usr/share/datasets/fashion-mnist)."));
  s.add(make_key<Str>(
      "data.train_split",
      LTCL_CONFIG_FIELD(Str, data.train_split),
      "Split trained on (folder kinds: sub-folder)."));
  s.add(make_key<Str>(
      "data.test_split",
      LTCL_CONFIG_FIELD(Str, data.test_split),
      "Split evaluated on (test or val)."));
  s.add(make_key<Str>(
      "data.train_list",
      LTCL_CONFIG_FIELD(Str, data.train_list),
      "Training list file (list kinds), relative to root."));
  s.add(make_key<Str>(
      "data.test_list",
      LTCL_CONFIG_FIELD(Str, data.test_list),
      "Test list file (list kinds), relative to root."));
  s.add(make_key<Str>(
      "data.names_file",
      LTCL_CONFIG_FIELD(Str, data.names_file),
      "List kinds: class names, one a line, relative to root (empty: the "
      "label numbers 0..C-1)."));
  s.add(make_key<double>(
      "data.imbalance_factor",
      LTCL_CONFIG_FIELD(double, data.imbalance_factor),
      "Imbalance factor n_max / n_min of the long-tailed training set (>= 1; "
      "1 keeps the set balanced).",
      at_least(1.0)));
  s.add(make_key<Str>(
      "data.profile",
      LTCL_CONFIG_FIELD(Str, data.profile),
      "Long-tail profile (none: use the training set as it is).",
      {},
      {"exp", "step", "none"}));
  s.add(make_key<int64_t>(
      "data.n_max",
      LTCL_CONFIG_FIELD(int64_t, data.n_max),
      "Head-class count n_max (0: the balanced set's per-class count).",
      at_least<int64_t>(0)));
  s.add(make_key<int64_t>(
      "data.seed",
      LTCL_CONFIG_FIELD(int64_t, data.seed),
      "Seed of the long-tailed selection (0 reproduces the published "
      "subsets).",
      at_least<int64_t>(0)));
  s.add(make_key<int64_t>(
      "data.test_per_class",
      LTCL_CONFIG_FIELD(int64_t, data.test_per_class),
      "Evaluate on the first k test images of each class (0: all).",
      at_least<int64_t>(0)));
  s.add(make_key<Strs>(
      "data.views",
      LTCL_CONFIG_FIELD(Strs, data.views),
      "Augmentation recipe of each training view (as many as the method "
      "uses: CE family 1; BCL, RCL, SupCon+LA, Hybrid 3 = [classification, "
      "contrastive, contrastive]; ResCom 2).",
      Check<Strs>([](const Strs& v, const Config&) {
        if (v.empty()) {
          return std::string("must name at least one recipe");
        }
        for (const auto& name : v) {
          const std::string why = unknown_recipe(name);
          if (!why.empty()) {
            return why;
          }
        }
        return std::string();
      })));
  s.add(make_key<Str>(
      "data.eval_recipe",
      LTCL_CONFIG_FIELD(Str, data.eval_recipe),
      "Recipe used at evaluation.",
      Check<Str>([](const Str& v, const Config&) {
        return unknown_recipe(v);
      })));
  s.add(make_key<Str>(
      "data.normalization",
      LTCL_CONFIG_FIELD(Str, data.normalization),
      "Normalisation constants by dataset name (cifar10, cifar100, imagenet, "
      "mnist, fashion_mnist; empty: data.dataset's), e.g. cifar10 for a "
      "CIFAR-10 JPEG folder.",
      Check<Str>([](const Str& v, const Config&) {
        if (v.empty()) {
          return std::string();
        }
        for (const auto& k : data::dataset_kinds()) {
          if (!k.mean.empty() &&
              data::normalization_of(v).mean == k.mean) {
            return std::string();
          }
        }
        return fmt::format(
            "'{}' names no known normalisation (cifar10, cifar100, "
            "imagenet, mnist, fashion_mnist)",
            v);
      })));
  s.add(make_key<std::vector<double>>(
      "data.mean",
      LTCL_CONFIG_FIELD(std::vector<double>, data.mean),
      "Per-channel mean of pixel / 255 (1 or C values; with data.std; "
      "empty: data.normalization's). `ltcl data stats --mean-std` "
      "computes it.",
      Check<std::vector<double>>([](const std::vector<double>& v,
                                    const Config& c) {
        if (v.size() > 3) {
          return fmt::format("needs 1 or 3 values, got {}", v.size());
        }
        if (v.size() != c.data.std.size()) {
          return fmt::format(
              "data.mean has {} values but data.std {} (set both, with the "
              "same count)",
              v.size(),
              c.data.std.size());
        }
        for (double x : v) {
          if (x < -1 || x > 2) {
            return fmt::format(
                "values are means of pixel / 255, expected in [0, 1]: got {}",
                x);
          }
        }
        return std::string();
      })));
  s.add(make_key<std::vector<double>>(
      "data.std",
      LTCL_CONFIG_FIELD(std::vector<double>, data.std),
      "Per-channel standard deviation of pixel / 255 (1 or C values > 0; "
      "with data.mean).",
      Check<std::vector<double>>([](const std::vector<double>& v,
                                    const Config&) {
        if (v.size() > 3) {
          return fmt::format("needs 1 or 3 values, got {}", v.size());
        }
        for (double x : v) {
          if (!(x >= 1e-6) || x > 10) {
            return fmt::format("values must be in [1e-6, 10]: got {}", x);
          }
        }
        return std::string();
      })));
  s.add(make_key<int64_t>(
      "data.image_size",
      LTCL_CONFIG_FIELD(int64_t, data.image_size),
      "Side of the square images the recipes produce (0: the data's own "
      "size, 224 for ImageNet-sized images); images of another size are "
      "resized (shorter side) and centre-cropped to it first.",
      Check<int64_t>([](const int64_t& v, const Config&) {
        return v == 0 || (v >= 8 && v <= 4096)
            ? std::string()
            : fmt::format("must be 0 or in [8, 4096], got {}", v);
      })));
  s.add(make_key<Str>(
      "data.sampler",
      LTCL_CONFIG_FIELD(Str, data.sampler),
      "Training sampler: random (instance-balanced), class_balanced (a "
      "class uniformly, then one of its images), sqrt (class probability "
      "~ sqrt(n_c)), class_aware (Kang et al.'s official cRT / LWS "
      "sampler: classes in shuffled cycles, 4 consecutive images of each "
      "from its own shuffled list). Hybrid adds its class-balanced branch "
      "itself.",
      {},
      data::sampler_names()));
  s.add(make_key<bool>(
      "data.cache",
      LTCL_CONFIG_FIELD(bool, data.cache),
      "Keep decoded images in memory."));
  s.add(make_key<bool>(
      "data.device_augment",
      LTCL_CONFIG_FIELD(bool, data.device_augment),
      "Decode the training images once onto train.device and augment each "
      "step's views there in whole batches (recipes cifar_weak and simclr, "
      "images at the recipe size; the same draws as the CPU loader). For "
      "GPUs; methods with one stream."));
  s.add(make_key<int64_t>(
      "data.workers",
      LTCL_CONFIG_FIELD(int64_t, data.workers),
      "Loader worker threads (0: load in the training thread).",
      int_range(0, 256)));
  s.add(make_key<Str>(
      "data.validation",
      LTCL_CONFIG_FIELD(Str, data.validation),
      "Validation set for every selection: left_out (data.val_per_class "
      "images per class from those the long-tail selection left out), split "
      "(the data's own validation split: data.val_split / data.val_list), "
      "holdout (data.val_fraction of each training class), none, or auto "
      "(left_out when the training set is long-tailed here, else split when "
      "it exists, else holdout).",
      {},
      {"auto", "left_out", "split", "holdout", "none"}));
  s.add(make_key<int64_t>(
      "data.val_per_class",
      LTCL_CONFIG_FIELD(int64_t, data.val_per_class),
      "left_out: validation images per class (a class with fewer left-out "
      "images gives the rest from its training selection).",
      at_least<int64_t>(1)));
  s.add(make_key<double>(
      "data.val_fraction",
      LTCL_CONFIG_FIELD(double, data.val_fraction),
      "holdout: fraction of each class's training images held out.",
      Check<double>([](const double& v, const Config&) {
        return v > 0 && v < 1 ? std::string()
                              : fmt::format("must be in (0, 1), got {}", v);
      })));
  s.add(make_key<Str>(
      "data.val_split",
      LTCL_CONFIG_FIELD(Str, data.val_split),
      "split: the validation sub-folder (folder kinds) or list name."));
  s.add(make_key<Str>(
      "data.val_list",
      LTCL_CONFIG_FIELD(Str, data.val_list),
      "split, list kinds: validation list file, relative to root."));
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.train.select_on == "val" && c.data.validation == "none") {
      report(
          "train.select_on",
          "train.select_on 'val' needs a validation set (data.validation is "
          "none): choose test (test-selected) or last");
    }
  });
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (data::dataset_kind(c.data.dataset).format == "list" &&
        (c.data.train_list.empty() || c.data.test_list.empty())) {
      report(
          "data.dataset",
          fmt::format(
              "data.dataset '{}' needs data.train_list and data.test_list",
              c.data.dataset));
    }
  });
}

}  // namespace ltcl::train::config_sections
