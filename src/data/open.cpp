#include "ltcl/data/open.h"

#include <filesystem>

#include "ltcl/data/cifar.h"
#include "ltcl/data/folder.h"
#include "ltcl/data/idx.h"
#include "ltcl/data/list_file.h"
#include "ltcl/data/long_tail.h"
#include "ltcl/util/error.h"

namespace ltcl::data {

namespace fs = std::filesystem;

DatasetPtr open_dataset(const DatasetSpec& spec) {
  if (spec.root.empty()) {
    fail("open_dataset - no root given for dataset kind '{}'", spec.kind);
  }
  std::error_code ec;
  if (!fs::exists(spec.root, ec)) {
    fail("open_dataset - root does not exist: {}", spec.root);
  }
  if (!fs::is_directory(spec.root, ec)) {
    fail("open_dataset - root is not a folder: {}", spec.root);
  }
  const bool fixed_splits = spec.kind == "cifar10" || spec.kind == "cifar100" ||
      spec.kind == "idx";
  if (fixed_splits && spec.split != "train" && spec.split != "test") {
    fail(
        "open_dataset - unknown split of a {} dataset: {{got '{}', want "
        "train|test}}",
        spec.kind,
        spec.split);
  }
  if (spec.split.empty() || spec.split.find('/') != std::string::npos) {
    fail(
        "open_dataset - a split is a plain name (train, test, val, ...): "
        "{{got '{}'}}",
        spec.split);
  }
  if (spec.kind == "cifar10" || spec.kind == "cifar100") {
    CifarOptions opt;
    opt.variant = spec.kind == "cifar10" ? CifarVariant::kCifar10
                                         : CifarVariant::kCifar100;
    opt.split = spec.split;
    opt.coarse = spec.cifar100_coarse;
    return open_cifar(spec.root, opt);
  }
  if (spec.kind == "idx") {
    IdxOptions opt;
    opt.split = spec.split;
    opt.names = spec.idx_names;
    return open_idx(spec.root, opt);
  }
  if (spec.kind == "folder") {
    const fs::path sub = fs::path(spec.root) / spec.split;
    return std::make_shared<FolderDataset>(
        fs::is_directory(sub, ec) ? sub.string() : spec.root);
  }
  if (spec.kind == "list") {
    const std::string list =
        spec.list_file.empty()
            ? (fs::path(spec.root) / (spec.split + ".txt")).string()
            : spec.list_file;
    ListFileOptions opt;
    opt.names_file = spec.names_file;
    opt.check_files = spec.check_files;
    return std::make_shared<ListFileDataset>(spec.root, list, opt);
  }
  fail(
      "open_dataset - unknown dataset kind: {{got '{}', want "
      "cifar10|cifar100|idx|folder|list}}",
      spec.kind);
}

DatasetPtr make_long_tailed(DatasetPtr base, const LongTailSpec& spec) {
  if (!base) {
    fail("make_long_tailed - base dataset is null");
  }
  if (spec.profile != "exp" && spec.profile != "step") {
    fail(
        "make_long_tailed - unknown profile: {{got '{}', want exp|step}}",
        spec.profile);
  }
  if (!(spec.imbalance_factor >= 1)) {
    fail(
        "make_long_tailed - imbalance factor must be >= 1: {{got {}}}",
        spec.imbalance_factor);
  }
  if (spec.imbalance_factor == 1 && spec.n_max == 0) {
    return base;
  }
  LongTailOptions opt;
  opt.profile = spec.profile;
  opt.imbalance_factor = spec.imbalance_factor;
  opt.seed = spec.seed;
  opt.n_max = spec.n_max;
  return long_tail_subset(std::move(base), opt);
}

}  // namespace ltcl::data
