#include "ltcl/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "ltcl/data/class_names.h"
#include "ltcl/util/error.h"

namespace ltcl::data {

namespace fs = std::filesystem;

std::vector<uint8_t> read_maybe_gzipped(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    fail("read_maybe_gzipped - cannot open file: {}", path);
  }
  gzbuffer(f, 1 << 17);
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  while (true) {
    const int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      fail("read_maybe_gzipped - corrupt or unreadable file {}: {}", path, msg);
    }
    if (n == 0) {
      break;
    }
    out.insert(out.end(), chunk.data(), chunk.data() + n);
  }
  // A truncated gzip stream reads as a short file; gzclose reports it.
  const int rc = gzclose(f);
  if (rc != Z_OK && rc != Z_BUF_ERROR) {
    fail(
        "read_maybe_gzipped - cannot read file {}: {{zlib code {}}}", path, rc);
  }
  if (rc == Z_BUF_ERROR) {
    fail("read_maybe_gzipped - truncated gzip file: {}", path);
  }
  return out;
}

const std::vector<std::string>& fashion_mnist_names() {
  static const std::vector<std::string> kNames = {
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot"};
  return kNames;
}

namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
         (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Checks an IDX header of `ndims` unsigned-byte dimensions and the payload
// size; returns the dimensions.
std::vector<uint64_t> check_idx(
    const std::vector<uint8_t>& bytes, int ndims, const std::string& path) {
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < 4) {
    fail(
        "IdxDataset - file too short for an IDX header: {} {{got {} bytes}}",
        path,
        bytes.size());
  }
  const uint32_t magic = be32(bytes.data());
  const uint32_t want = 0x00000800u | static_cast<uint32_t>(ndims);
  if (magic != want) {
    fail(
        "IdxDataset - bad magic in {}: {{got 0x{:08x}, want 0x{:08x} "
        "(unsigned bytes, {} dims)}}",
        path,
        magic,
        want,
        ndims);
  }
  if (bytes.size() < header) {
    fail(
        "IdxDataset - truncated IDX header: {} {{got {} bytes}}",
        path,
        bytes.size());
  }
  std::vector<uint64_t> dims;
  uint64_t payload = 1;
  for (int d = 0; d < ndims; ++d) {
    dims.push_back(be32(bytes.data() + 4 + 4 * d));
    payload *= dims.back();
  }
  if (bytes.size() - header != payload) {
    fail(
        "IdxDataset - count disagrees with file size in {}: {{header says {} "
        "items ({} payload bytes), file has {} payload bytes}}",
        path,
        dims[0],
        payload,
        bytes.size() - header);
  }
  return dims;
}

}  // namespace

IdxDataset::IdxDataset(
    const std::string& images_path,
    const std::string& labels_path,
    std::vector<std::string> class_names)
    : images_path_(images_path), class_names_(std::move(class_names)) {
  std::vector<uint8_t> images = read_maybe_gzipped(images_path);
  const auto idims = check_idx(images, 3, images_path);
  std::vector<uint8_t> labels = read_maybe_gzipped(labels_path);
  const auto ldims = check_idx(labels, 1, labels_path);
  if (idims[0] != ldims[0]) {
    fail(
        "IdxDataset - image and label counts differ: {{{} has {}, {} has {}}}",
        images_path,
        idims[0],
        labels_path,
        ldims[0]);
  }
  rows_ = static_cast<int>(idims[1]);
  cols_ = static_cast<int>(idims[2]);
  labels_.assign(labels.begin() + 8, labels.end());
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] >= class_names_.size()) {
      fail(
          "IdxDataset - label out of range in {} item {}: {{got {}, classes "
          "{}}}",
          labels_path,
          i,
          labels_[i],
          class_names_.size());
    }
  }
  images.erase(images.begin(), images.begin() + 16);
  pixels_ = std::move(images);
}

int64_t IdxDataset::label(size_t i) const {
  if (i >= labels_.size()) {
    fail(
        "IdxDataset::label - index out of range: {{got {}, size {}}}",
        i,
        labels_.size());
  }
  return labels_[i];
}

Example IdxDataset::get(size_t i) const {
  Example e{Image(rows_, cols_, 1), label(i)};
  const size_t n = static_cast<size_t>(rows_) * cols_;
  std::copy_n(pixels_.data() + i * n, n, e.image.data());
  return e;
}

std::string IdxDataset::describe(size_t i) const {
  label(i);
  return images_path_ + "#" + std::to_string(i);
}

std::shared_ptr<IdxDataset> open_idx(
    const std::string& root, const IdxOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    fail("open_idx - root is not an existing folder: {}", root);
  }
  if (options.split != "train" && options.split != "test") {
    fail(
        "open_idx - unknown split: {{got '{}', want train|test}}",
        options.split);
  }
  const std::string prefix = options.split == "train" ? "train" : "t10k";
  auto find = [&](const std::string& kind) {
    // MNIST's names, and the dotted variant some mirrors use.
    for (const std::string sep : {"-", "."}) {
      for (const std::string ext : {"", ".gz"}) {
        const fs::path p =
            fs::path(root) / (prefix + "-" + kind + sep + "ubyte" + ext);
        if (fs::is_regular_file(p)) {
          return p.string();
        }
      }
    }
    fail("open_idx - missing file: {}/{}-{}-ubyte[.gz]", root, prefix, kind);
  };
  const std::string images = find("images-idx3");
  const std::string labels = find("labels-idx1");
  std::vector<std::string> names;
  std::string mode = options.names;
  if (mode == "auto") {
    std::string folder = fs::absolute(root).lexically_normal().string();
    std::transform(folder.begin(), folder.end(), folder.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    mode = folder.find("fashion") != std::string::npos ? "fashion" : "digits";
  }
  if (mode == "digits") {
    names = numbered_names(10);
  } else if (mode == "fashion") {
    names = fashion_mnist_names();
  } else {
    fail(
        "open_idx - unknown names option: {{got '{}', want "
        "auto|digits|fashion}}",
        options.names);
  }
  return std::make_shared<IdxDataset>(images, labels, std::move(names));
}

}  // namespace ltcl::data
