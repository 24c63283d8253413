#pragma once
// A dataset wrapper that keeps decoded images in memory.
//
// The first get(i) decodes through the base dataset; later calls return a
// copy of the kept image. Safe to call from many threads: the cache is
// guarded by a mutex that is never held while decoding (two threads asking
// for the same new sample may both decode it; the first stored wins). With a
// byte cap, images are kept until their pixel bytes would exceed the cap;
// after that, further samples are decoded each time (nothing is evicted, so
// the hit pattern stays predictable across epochs).
#include <memory>
#include <mutex>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

class CachedDataset : public Dataset {
 public:
  // max_bytes = 0: no cap.
  explicit CachedDataset(DatasetPtr base, size_t max_bytes = 0);

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

  // Pixel bytes held now, and number of samples held.
  size_t cached_bytes() const;
  size_t cached_count() const;

 private:
  DatasetPtr base_;
  size_t max_bytes_;
  mutable std::mutex mutex_;
  mutable std::vector<std::shared_ptr<const Image>> images_;
  mutable size_t bytes_ = 0;
  mutable size_t count_ = 0;
};

}  // namespace ltcl::data
