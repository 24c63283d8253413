#include "ltcl/data/image_cache.h"

#include "ltcl/util/error.h"

namespace ltcl::data {

ImageCacheDataset::ImageCacheDataset(DatasetPtr base) : base_(std::move(base)) {
  if (!base_) {
    fail("ImageCacheDataset - base dataset is null");
  }
  slots_.reset(new std::atomic<Example*>[base_->size()]);
  for (size_t i = 0; i < base_->size(); ++i) {
    slots_[i].store(nullptr, std::memory_order_relaxed);
  }
}

ImageCacheDataset::~ImageCacheDataset() {
  for (size_t i = 0; i < base_->size(); ++i) {
    delete slots_[i].load(std::memory_order_relaxed);
  }
}

Example ImageCacheDataset::get(size_t i) const {
  if (i >= base_->size()) {
    fail(
        "ImageCacheDataset::get - index out of range: {{got {}, size {}}}",
        i,
        base_->size());
  }
  Example* cached = slots_[i].load(std::memory_order_acquire);
  if (cached) {
    return *cached;
  }
  auto fresh = std::make_unique<Example>(base_->get(i));
  Example* expected = nullptr;
  if (slots_[i].compare_exchange_strong(
          expected, fresh.get(), std::memory_order_acq_rel)) {
    return *fresh.release();
  }
  return *expected;  // another thread stored it first
}

size_t ImageCacheDataset::cached() const {
  size_t n = 0;
  for (size_t i = 0; i < base_->size(); ++i) {
    n += slots_[i].load(std::memory_order_relaxed) != nullptr;
  }
  return n;
}

}  // namespace ltcl::data
