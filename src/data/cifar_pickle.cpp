// CIFAR's Python distribution (cifar-10-batches-py, cifar-100-python), read
// with ltcl's pickle reader.
#include <filesystem>

#include "ltcl/data/cifar.h"
#include "ltcl/data/class_names.h"
#include "ltcl/data/pickle.h"
#include "ltcl/util/error.h"
#include "ltcl/util/printable.h"

namespace ltcl::data {

namespace fs = std::filesystem;

namespace {

using Kind = PickleValue::Kind;

// A list of ints, or a 1-d integer ndarray, as int64 values.
std::vector<int64_t> int_sequence(
    const PickleValue& v, const std::string& file, const std::string& key) {
  std::vector<int64_t> out;
  if (v.kind == Kind::kList || v.kind == Kind::kTuple) {
    out.reserve(v.items.size());
    for (size_t k = 0; k < v.items.size(); ++k) {
      if (v.items[k]->kind != Kind::kInt) {
        fail(
            "read_cifar_pickle - {}: '{}'[{}] is a {}, not an int",
            file,
            key,
            k,
            v.items[k]->kind_name());
      }
      out.push_back(v.items[k]->integer);
    }
    return out;
  }
  if (v.kind == Kind::kNdarray && v.shape.size() == 1) {
    // The parser only builds arrays of a known dtype ("u1" .. "i8", "b1")
    // whose data is exactly shape x item bytes; checked again here, since
    // reading past it would take labels from neighbouring memory.
    const std::string& base = v.dtype;
    const size_t item =
        base.size() == 2 ? static_cast<size_t>(base[1] - '0') : 0;
    if ((item != 1 && item != 2 && item != 4 && item != 8) ||
        v.text.size() != static_cast<uint64_t>(v.shape[0]) * item) {
      fail(
          "read_cifar_pickle - {}: '{}' is an ndarray of dtype '{}' with {} "
          "bytes for {} items, expected a 1-d integer array",
          file,
          key,
          printable(v.dtype),
          v.text.size(),
          v.shape[0]);
    }
    const bool is_signed = base[0] == 'i';
    const auto* p = reinterpret_cast<const uint8_t*>(v.text.data());
    for (int64_t k = 0; k < v.shape[0]; ++k) {
      uint64_t x = 0;
      for (size_t b = 0; b < item; ++b) {
        x |= uint64_t(p[k * item + b]) << (8 * b);
      }
      if (is_signed && item < 8 && (x >> (8 * item - 1)) & 1) {
        x |= ~uint64_t(0) << (8 * item);
      }
      out.push_back(static_cast<int64_t>(x));
    }
    return out;
  }
  fail(
      "read_cifar_pickle - {}: '{}' is a {}, not a list of ints",
      file,
      key,
      v.kind_name());
}

std::vector<std::string> string_list(
    const PickleValue& v, const std::string& file, const std::string& key) {
  if (v.kind != Kind::kList && v.kind != Kind::kTuple) {
    fail(
        "read_cifar_pickle - {}: '{}' is a {}, not a list",
        file,
        key,
        v.kind_name());
  }
  std::vector<std::string> out;
  for (const auto& item : v.items) {
    if (item->kind != Kind::kBytes && item->kind != Kind::kString) {
      fail(
          "read_cifar_pickle - {}: '{}' holds a {}, not a string",
          file,
          key,
          item->kind_name());
    }
    out.push_back(item->text);
  }
  return out;
}

const PickleValue& require(
    const PickleValue& dict, const std::string& key, const std::string& file) {
  if (dict.kind != Kind::kDict) {
    fail(
        "read_cifar_pickle - {}: top level is a {}, not a dict",
        file,
        dict.kind_name());
  }
  const PickleValue* v = dict.find(key);
  if (!v) {
    fail("read_cifar_pickle - {}: missing key '{}'", file, key);
  }
  return *v;
}

}  // namespace

void parse_cifar_pickle_batch(
    const PickleValue& root,
    const CifarOptions& options,
    const std::string& path,
    std::vector<uint8_t>* pixels,
    std::vector<uint8_t>* labels) {
  const bool c100 = options.variant == CifarVariant::kCifar100;
  const size_t classes = c100 ? (options.coarse ? 20 : 100) : 10;
  const std::string label_key =
      c100 ? (options.coarse ? "coarse_labels" : "fine_labels") : "labels";
  const PickleValue& data = require(root, "data", path);
  if (data.kind != Kind::kNdarray || data.shape.size() != 2 ||
      data.shape[1] != static_cast<int64_t>(CifarDataset::kImageBytes) ||
      data.dtype != "u1" ||
      data.text.size() !=
          static_cast<uint64_t>(data.shape[0]) * CifarDataset::kImageBytes) {
    fail(
        "read_cifar_pickle - {}: 'data' is not a uint8 N x 3072 array "
        "{{got {} of dtype '{}' with {} dims}}",
        path,
        data.kind_name(),
        printable(data.dtype),
        data.shape.size());
  }
  const auto ys = int_sequence(require(root, label_key, path), path, label_key);
  if (static_cast<int64_t>(ys.size()) != data.shape[0]) {
    fail(
        "read_cifar_pickle - {}: {} labels for {} images",
        path,
        ys.size(),
        data.shape[0]);
  }
  for (size_t k = 0; k < ys.size(); ++k) {
    if (ys[k] < 0 || ys[k] >= static_cast<int64_t>(classes)) {
      fail(
          "read_cifar_pickle - label out of range in {} '{}'[{}]: {{got "
          "{}, classes {}}}",
          path,
          label_key,
          k,
          ys[k],
          classes);
    }
    labels->push_back(static_cast<uint8_t>(ys[k]));
  }
  pixels->insert(pixels->end(), data.text.begin(), data.text.end());
}

std::shared_ptr<CifarDataset> read_cifar_pickle(
    const std::string& dir, const CifarOptions& options) {
  if (options.split != "train" && options.split != "test") {
    fail(
        "read_cifar_pickle - unknown split: {{got '{}', want train|test}}",
        options.split);
  }
  const bool c100 = options.variant == CifarVariant::kCifar100;
  const size_t classes = c100 ? (options.coarse ? 20 : 100) : 10;
  std::vector<std::string> files;
  if (c100) {
    files.push_back(options.split);
  } else if (options.split == "train") {
    for (int b = 1; b <= 5; ++b) {
      files.push_back("data_batch_" + std::to_string(b));
    }
  } else {
    files.push_back("test_batch");
  }

  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
  std::vector<CifarDataset::Part> parts;
  for (const auto& name : files) {
    const std::string path = (fs::path(dir) / name).string();
    if (!fs::is_regular_file(path)) {
      fail("read_cifar_pickle - missing file: {}", path);
    }
    const PickleRef root = read_pickle(path);
    parts.push_back({path, labels.size()});
    parse_cifar_pickle_batch(*root, options, path, &pixels, &labels);
  }

  std::vector<std::string> names = numbered_names(classes);
  const fs::path meta = fs::path(dir) / (c100 ? "meta" : "batches.meta");
  if (fs::is_regular_file(meta)) {
    const std::string key =
        c100 ? (options.coarse ? "coarse_label_names" : "fine_label_names")
             : "label_names";
    const PickleRef m = read_pickle(meta.string());
    names = string_list(require(*m, key, meta.string()), meta.string(), key);
    if (names.size() != classes) {
      fail(
          "read_cifar_pickle - {}: '{}' has {} names, want {}",
          meta.string(),
          key,
          names.size(),
          classes);
    }
  }
  return std::make_shared<CifarDataset>(
      std::move(pixels), std::move(labels), std::move(names), std::move(parts));
}

}  // namespace ltcl::data
