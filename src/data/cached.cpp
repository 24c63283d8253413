#include "ltcl/data/cached.h"

#include "ltcl/util/error.h"

namespace ltcl::data {

CachedDataset::CachedDataset(DatasetPtr base, size_t max_bytes)
    : base_(std::move(base)), max_bytes_(max_bytes) {
  if (!base_) {
    fail("CachedDataset - base dataset is null");
  }
  images_.resize(base_->size());
}

Example CachedDataset::get(size_t i) const {
  if (i >= images_.size()) {
    fail(
        "CachedDataset::get - index out of range: {{got {}, size {}}}",
        i,
        images_.size());
  }
  std::shared_ptr<const Image> hit;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hit = images_[i];
  }
  if (hit) {
    return Example{*hit, base_->label(i)};
  }
  Example e = base_->get(i);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!images_[i] &&
      (max_bytes_ == 0 || bytes_ + e.image.size() <= max_bytes_)) {
    images_[i] = std::make_shared<const Image>(e.image);
    bytes_ += e.image.size();
    ++count_;
  }
  return e;
}

size_t CachedDataset::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

size_t CachedDataset::cached_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

}  // namespace ltcl::data
