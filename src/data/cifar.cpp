#include "ltcl/data/cifar.h"

#include <algorithm>
#include <filesystem>

#include "ltcl/data/class_names.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

namespace fs = std::filesystem;

CifarDataset::CifarDataset(
    std::vector<uint8_t> pixels,
    std::vector<uint8_t> labels,
    std::vector<std::string> class_names,
    std::vector<Part> parts)
    : pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      class_names_(std::move(class_names)),
      parts_(std::move(parts)) {
  if (pixels_.size() != labels_.size() * kImageBytes) {
    fail(
        "CifarDataset - pixel bytes do not match labels: {{got {} bytes for "
        "{} labels}}",
        pixels_.size(),
        labels_.size());
  }
  if (parts_.empty() || parts_.front().first != 0) {
    fail("CifarDataset - parts must start at sample 0");
  }
}

int64_t CifarDataset::label(size_t i) const {
  if (i >= labels_.size()) {
    fail(
        "CifarDataset::label - index out of range: {{got {}, size {}}}",
        i,
        labels_.size());
  }
  return labels_[i];
}

Example CifarDataset::get(size_t i) const {
  Example e{Image(32, 32, 3), label(i)};
  const uint8_t* src = pixels_.data() + i * kImageBytes;
  uint8_t* dst = e.image.data();
  for (size_t p = 0; p < 1024; ++p) {
    dst[3 * p] = src[p];
    dst[3 * p + 1] = src[1024 + p];
    dst[3 * p + 2] = src[2048 + p];
  }
  return e;
}

std::string CifarDataset::describe(size_t i) const {
  label(i);  // range check
  auto it = std::upper_bound(
      parts_.begin(), parts_.end(), i, [](size_t v, const Part& p) {
        return v < p.first;
      });
  --it;
  return it->file + "#" + std::to_string(i - it->first);
}

namespace {

void check_split(const CifarOptions& options, const char* who) {
  if (options.split != "train" && options.split != "test") {
    fail(
        "{} - unknown split: {{got '{}', want train|test}}",
        who,
        options.split);
  }
}

}  // namespace

void parse_cifar_binary(
    const uint8_t* bytes,
    size_t size,
    const CifarOptions& options,
    const std::string& path,
    std::vector<uint8_t>* pixels,
    std::vector<uint8_t>* labels) {
  const bool c100 = options.variant == CifarVariant::kCifar100;
  const size_t record = c100 ? 3074 : 3073;
  const size_t classes = c100 ? (options.coarse ? 20 : 100) : 10;
  const size_t label_offset = c100 && !options.coarse ? 1 : 0;
  if (size == 0 || size % record != 0) {
    fail(
        "read_cifar_binary - file size is not a whole number of {}-byte "
        "records: {} {{got {} bytes}}",
        record,
        path,
        size);
  }
  const size_t n = size / record;
  labels->reserve(labels->size() + n);
  pixels->reserve(pixels->size() + n * CifarDataset::kImageBytes);
  for (size_t r = 0; r < n; ++r) {
    const uint8_t* rec = bytes + r * record;
    const uint8_t y = rec[label_offset];
    if (y >= classes) {
      fail(
          "read_cifar_binary - label out of range in {} record {} (offset "
          "{}): {{got {}, classes {}}}",
          path,
          r,
          r * record + label_offset,
          y,
          classes);
    }
    labels->push_back(y);
    const uint8_t* px = rec + (c100 ? 2 : 1);
    pixels->insert(pixels->end(), px, px + CifarDataset::kImageBytes);
  }
}

std::shared_ptr<CifarDataset> read_cifar_binary(
    const std::string& dir, const CifarOptions& options) {
  check_split(options, "read_cifar_binary");
  const bool c100 = options.variant == CifarVariant::kCifar100;
  const size_t classes = c100 ? (options.coarse ? 20 : 100) : 10;
  std::vector<std::string> files;
  if (c100) {
    files.push_back(options.split == "train" ? "train.bin" : "test.bin");
  } else if (options.split == "train") {
    for (int b = 1; b <= 5; ++b) {
      files.push_back("data_batch_" + std::to_string(b) + ".bin");
    }
  } else {
    files.push_back("test_batch.bin");
  }

  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
  std::vector<CifarDataset::Part> parts;
  for (const auto& name : files) {
    const std::string path = (fs::path(dir) / name).string();
    if (!fs::is_regular_file(path)) {
      fail("read_cifar_binary - missing file: {}", path);
    }
    const std::vector<uint8_t> bytes = util::read_regular_file(
        path, limits::kMaxDataFileBytes, "read_cifar_binary");
    parts.push_back({path, labels.size()});
    parse_cifar_binary(
        bytes.data(), bytes.size(), options, path, &pixels, &labels);
  }

  const std::string names_file =
      c100
          ? (options.coarse ? "coarse_label_names.txt" : "fine_label_names.txt")
          : "batches.meta.txt";
  const fs::path names_path = fs::path(dir) / names_file;
  std::vector<std::string> names = fs::is_regular_file(names_path)
                                       ? read_names_file(names_path.string())
                                       : numbered_names(classes);
  if (names.size() != classes) {
    fail(
        "read_cifar_binary - wrong number of class names in {}: {{got {}, "
        "want {}}}",
        names_path.string(),
        names.size(),
        classes);
  }
  return std::make_shared<CifarDataset>(
      std::move(pixels), std::move(labels), std::move(names), std::move(parts));
}

std::shared_ptr<CifarDataset> open_cifar(
    const std::string& root, const CifarOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    fail("open_cifar - root is not an existing folder: {}", root);
  }
  const bool c100 = options.variant == CifarVariant::kCifar100;
  const char* bin_sub = c100 ? "cifar-100-binary" : "cifar-10-batches-bin";
  const char* py_sub = c100 ? "cifar-100-python" : "cifar-10-batches-py";
  // Marker files that identify each format in a folder.
  const char* bin_marker = c100 ? "train.bin" : "data_batch_1.bin";
  const char* bin_marker_test = c100 ? "test.bin" : "test_batch.bin";
  const char* py_marker = c100 ? "meta" : "batches.meta";
  const char* py_marker_data = c100 ? "train" : "data_batch_1";
  const char* py_marker_test = c100 ? "test" : "test_batch";
  auto is_bin = [&](const fs::path& d) {
    return fs::is_regular_file(d / bin_marker) ||
           fs::is_regular_file(d / bin_marker_test);
  };
  auto is_py = [&](const fs::path& d) {
    return fs::is_regular_file(d / py_marker) ||
           fs::is_regular_file(d / py_marker_data) ||
           fs::is_regular_file(d / py_marker_test);
  };
  const fs::path r(root);
  for (const fs::path& d : {r, r / bin_sub, r / py_sub}) {
    if (is_bin(d)) {
      return read_cifar_binary(d.string(), options);
    }
    if (is_py(d)) {
      return read_cifar_pickle(d.string(), options);
    }
  }
  fail(
      "open_cifar - no CIFAR-{} files in {} (looked for {} or {} there and "
      "in its {}/ and {}/ folders)",
      c100 ? 100 : 10,
      root,
      bin_marker,
      py_marker_data,
      bin_sub,
      py_sub);
}

}  // namespace ltcl::data
