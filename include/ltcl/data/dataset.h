#pragma once
// The dataset interface every loader, sampler and loss consumes.
//
// A dataset is an indexable collection of (image, label) pairs. `label(i)` is
// cheap (no decoding) so that samplers and long-tailed selection never touch
// pixels; `get(i)` decodes. Implementations must be safe to call `get` from
// several threads at once.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ltcl/data/image.h"

namespace ltcl::data {

struct Example {
  Image image;
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual size_t size() const = 0;
  // Decodes sample i (0 <= i < size()).
  virtual Example get(size_t i) const = 0;
  // The label of sample i without decoding it.
  virtual int64_t label(size_t i) const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  // Where sample i comes from, for listings: a file path, or "file#index".
  virtual std::string describe(size_t i) const = 0;

  int64_t num_classes() const {
    return static_cast<int64_t>(class_names().size());
  }
  // Per-class sample counts (length num_classes()).
  std::vector<int64_t> class_counts() const;
  // All labels, in sample order.
  std::vector<int64_t> labels() const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// A view of a base dataset through a list of indices (in the given order).
class Subset : public Dataset {
 public:
  Subset(DatasetPtr base, std::vector<size_t> indices);

  size_t size() const override {
    return indices_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return base_->class_names();
  }
  std::string describe(size_t i) const override;

  const std::vector<size_t>& indices() const {
    return indices_;
  }
  const DatasetPtr& base() const {
    return base_;
  }

 private:
  DatasetPtr base_;
  std::vector<size_t> indices_;
};

// Samples held in memory: for tests, synthetic data and callers that decode
// images themselves. Throws ltcl::Error when the lengths differ or a label is
// outside [0, class_names.size()).
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(
      std::vector<Image> images,
      std::vector<int64_t> labels,
      std::vector<std::string> class_names);

  size_t size() const override {
    return images_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return names_;
  }
  std::string describe(size_t i) const override;

 private:
  std::vector<Image> images_;
  std::vector<int64_t> labels_;
  std::vector<std::string> names_;
};

}  // namespace ltcl::data
