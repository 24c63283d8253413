#pragma once
// CIFAR-10 and CIFAR-100 in both original distributions.
//
// Binary (`cifar-10-batches-bin/`, `cifar-100-binary/`): records of
// <label byte> 3072 pixel bytes (CIFAR-10, 3073 bytes) or <coarse byte>
// <fine byte> 3072 pixel bytes (CIFAR-100, 3074 bytes); pixels are the R, G
// and B 32x32 planes, row-major. Files: data_batch_1..5.bin / test_batch.bin
// and train.bin / test.bin. Class names come from batches.meta.txt,
// fine_label_names.txt or coarse_label_names.txt when present, else "0".."C-1".
//
// Python pickle (`cifar-10-batches-py/`, `cifar-100-python/`): the same
// pixels in a dict {data: uint8 ndarray N x 3072, labels | fine_labels +
// coarse_labels: list of int, filenames, batch_label}, read by ltcl's own
// pickle reader (pickle.h); names from batches.meta / meta.
//
// Both are small (<= 180 MB), so the raw records stay in memory; get(i)
// converts one record to a 32x32x3 HWC image.
#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

enum class CifarVariant { kCifar10, kCifar100 };

struct CifarOptions {
  CifarVariant variant = CifarVariant::kCifar10;
  std::string split = "train";  // "train" or "test"
  bool coarse = false;          // CIFAR-100: the 20 coarse labels
};

// CIFAR pixels and labels held in memory, whatever file they came from.
class CifarDataset : public Dataset {
 public:
  static constexpr size_t kImageBytes = 3072;  // 3 x 32 x 32

  // One source file's share of the samples, for describe().
  struct Part {
    std::string file;
    size_t first = 0;  // index of its first sample in this dataset
  };

  CifarDataset(
      std::vector<uint8_t> pixels,
      std::vector<uint8_t> labels,
      std::vector<std::string> class_names,
      std::vector<Part> parts);

  size_t size() const override {
    return labels_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return class_names_;
  }
  // "<file>#<index within that file>".
  std::string describe(size_t i) const override;

 private:
  std::vector<uint8_t> pixels_;  // size() x 3072, CHW planes per record
  std::vector<uint8_t> labels_;
  std::vector<std::string> class_names_;
  std::vector<Part> parts_;
};

// Reads the binary distribution from `dir` (the folder holding the .bin
// files). Throws ltcl::Error naming the file for a missing file, a size that
// is not a whole number of records, or a label out of range.
std::shared_ptr<CifarDataset> read_cifar_binary(
    const std::string& dir, const CifarOptions& options);

// Reads the Python-pickle distribution from `dir` (the folder holding
// data_batch_1.. or train/test). Errors name the file (and pickle offset).
std::shared_ptr<CifarDataset> read_cifar_pickle(
    const std::string& dir, const CifarOptions& options);

// The checked contents of one file, appended to `pixels` (kImageBytes per
// image) and `labels`; `name` is used in errors. The readers above call
// these for every file; fuzz/ calls them on arbitrary bytes.
struct PickleValue;
void parse_cifar_binary(
    const uint8_t* bytes,
    size_t n,
    const CifarOptions& options,
    const std::string& name,
    std::vector<uint8_t>* pixels,
    std::vector<uint8_t>* labels);
// `root`: a parsed data batch (dict with 'data' and the labels key).
void parse_cifar_pickle_batch(
    const PickleValue& root,
    const CifarOptions& options,
    const std::string& name,
    std::vector<uint8_t>* pixels,
    std::vector<uint8_t>* labels);

// Finds the CIFAR folder under `root` (root itself, or its
// cifar-10-batches-bin / cifar-10-batches-py / cifar-100-binary /
// cifar-100-python sub-folder), detects the format and reads it.
std::shared_ptr<CifarDataset> open_cifar(
    const std::string& root, const CifarOptions& options);

}  // namespace ltcl::data
