#include "ltcl/data/kinds.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "ltcl/util/error.h"

namespace ltcl::data {
namespace {

const std::vector<float> kCifar10Mean = {0.4914f, 0.4822f, 0.4465f};
const std::vector<float> kCifar10Std = {0.2023f, 0.1994f, 0.2010f};
const std::vector<float> kCifar100Mean = {0.5071f, 0.4865f, 0.4409f};
const std::vector<float> kCifar100Std = {0.2673f, 0.2564f, 0.2762f};
const std::vector<float> kImageNetMean = {0.485f, 0.456f, 0.406f};
const std::vector<float> kImageNetStd = {0.229f, 0.224f, 0.225f};

// Other names of the kinds' constants (benchmark variants of one set).
struct Alias {
  const char* names;  // comma-separated, lower case
  const char* kind;
};
const Alias kAliases[] = {
    {",cifar10_lt,cifar-10,", "cifar10"},
    {",cifar100_lt,cifar-100,", "cifar100"},
    {",imagenet,places_lt,inat,inat2018,", "imagenet_lt"},
    {",mnist_lt,", "mnist"},
    {",fashion-mnist,fashion_mnist_lt,fmnist,", "fashion_mnist"},
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return s;
}

}  // namespace

const std::vector<DatasetKind>& dataset_kinds() {
  static const std::vector<DatasetKind> kinds = {
      {"mnist", "idx", "", "digits", {0.1307f}, {0.3081f},
       "MNIST IDX files (train/t10k-*-idx?-ubyte[.gz]) in data.root"},
      {"fashion_mnist", "idx", "/usr/share/datasets/fashion-mnist", "fashion",
       {0.2860f}, {0.3530f},
       "Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)"},
      {"idx", "idx", "", "auto", {}, {}, "any IDX image / label set"},
      {"cifar10", "cifar10", "", "auto", kCifar10Mean, kCifar10Std,
       "CIFAR-10, binary or Python files"},
      {"cifar100", "cifar100", "", "auto", kCifar100Mean, kCifar100Std,
       "CIFAR-100, binary or Python files"},
      {"folder", "folder", "", "auto", {}, {},
       "root/<split>/<class>/<image> (JPEG or PNG)"},
      {"list", "list", "", "auto", {}, {},
       "\"path label\" list files (data.train_list / data.test_list)"},
      {"imagenet_lt", "list", "", "auto", kImageNetMean, kImageNetStd,
       "ImageNet-LT list files, ImageNet normalisation"},
  };
  return kinds;
}

std::vector<std::string> dataset_kind_names() {
  std::vector<std::string> names;
  for (const auto& k : dataset_kinds()) {
    names.push_back(k.name);
  }
  return names;
}

const DatasetKind& dataset_kind(const std::string& name) {
  for (const auto& k : dataset_kinds()) {
    if (k.name == name) {
      return k;
    }
  }
  fail(
      "dataset_kind - unknown dataset kind: {{got '{}', want one of {}}}",
      name,
      fmt::join(dataset_kind_names(), ", "));
}

Normalization normalization_of(const std::string& name) {
  const std::string key = lower(name);
  std::string kind = key;
  for (const auto& a : kAliases) {
    if (std::string(a.names).find("," + key + ",") != std::string::npos) {
      kind = a.kind;
    }
  }
  for (const auto& k : dataset_kinds()) {
    if (k.name == kind && !k.mean.empty()) {
      return {k.mean, k.std};
    }
  }
  return {{0.5f}, {0.5f}};
}

}  // namespace ltcl::data
