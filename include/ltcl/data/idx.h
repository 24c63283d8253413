#pragma once
// IDX files (MNIST, Fashion-MNIST), gzipped or not.
//
// A folder holds {train,t10k}-images-idx3-ubyte and
// {train,t10k}-labels-idx1-ubyte, each optionally with a .gz suffix. Headers
// are checked (magic 0x00000803 / 0x00000801: unsigned bytes, 3 / 1 dims),
// and the payload must be exactly count x rows x cols bytes. Both files are
// small (47 MB for 60k 28x28 images) and held in memory; get(i) copies one
// rows x cols x 1 image.
#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

struct IdxOptions {
  std::string split = "train";  // "train" or "test" (the t10k files)
  // Class names: "auto" (Fashion-MNIST's when the folder name contains
  // "fashion", else digits), "digits" ("0".."9") or "fashion".
  std::string names = "auto";
};

class IdxDataset : public Dataset {
 public:
  // Reads and checks both files (gzip detected from the content).
  IdxDataset(
      const std::string& images_path,
      const std::string& labels_path,
      std::vector<std::string> class_names);

  size_t size() const override {
    return labels_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return class_names_;
  }
  // "<images file>#<index>".
  std::string describe(size_t i) const override;

  int rows() const {
    return rows_;
  }
  int cols() const {
    return cols_;
  }

 private:
  std::string images_path_;
  int rows_ = 0;
  int cols_ = 0;
  std::vector<uint8_t> pixels_;
  std::vector<uint8_t> labels_;
  std::vector<std::string> class_names_;
};

// Decompresses a gzip file (one or more members, nothing after them), or
// reads a plain one; at most limits::kMaxDataFileBytes, and at most what
// deflate's 1032:1 ratio allows for the file's size.
std::vector<uint8_t> read_maybe_gzipped(const std::string& path);

// One IDX file of unsigned bytes, parsed and checked: `dims` (each >= 1) and
// the payload (their product in bytes, C order).
struct IdxArray {
  std::vector<uint64_t> dims;
  std::vector<uint8_t> data;
};

// Parses an IDX file held in memory, gzipped or not, with `ndims`
// dimensions; `name` is used in errors. The header is checked before the
// payload is unpacked: a gzip stream may unpack to exactly the size its
// header declares, a declared size must fit limits::kMaxDataFileBytes, and
// images at most limits::kMaxImagePixels pixels.
IdxArray parse_idx(
    const uint8_t* bytes, size_t n, int ndims, const std::string& name);

// The ten Fashion-MNIST class names, in label order.
const std::vector<std::string>& fashion_mnist_names();

// Opens the split's two files in folder `root`.
std::shared_ptr<IdxDataset> open_idx(
    const std::string& root, const IdxOptions& options);

}  // namespace ltcl::data
