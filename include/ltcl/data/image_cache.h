#pragma once
// An in-memory cache of decoded samples in front of any dataset: each sample
// is decoded on its first get() and kept; later gets copy it from memory.
// Lock-free and thread-safe (two threads racing on a first get both decode,
// one copy is kept). CIFAR-sized sets (50k x 3 KiB) take about 150 MiB.
#include <atomic>
#include <memory>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

class ImageCacheDataset : public Dataset {
 public:
  explicit ImageCacheDataset(DatasetPtr base);
  ~ImageCacheDataset() override;

  size_t size() const override {
    return base_->size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override {
    return base_->label(i);
  }
  const std::vector<std::string>& class_names() const override {
    return base_->class_names();
  }
  std::string describe(size_t i) const override {
    return base_->describe(i);
  }
  // Samples decoded so far.
  size_t cached() const;

 private:
  DatasetPtr base_;
  std::unique_ptr<std::atomic<Example*>[]> slots_;
};

}  // namespace ltcl::data
