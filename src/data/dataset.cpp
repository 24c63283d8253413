#include "ltcl/data/dataset.h"

#include "ltcl/util/error.h"

namespace ltcl::data {

std::vector<int64_t> Dataset::class_counts() const {
  std::vector<int64_t> counts(class_names().size(), 0);
  for (size_t i = 0; i < size(); ++i) {
    const int64_t y = label(i);
    if (y < 0 || y >= static_cast<int64_t>(counts.size())) {
      fail(
          "Dataset::class_counts - label out of range: {{sample {} ({}), "
          "label {}, num_classes {}}}",
          i,
          describe(i),
          y,
          counts.size());
    }
    ++counts[y];
  }
  return counts;
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> out(size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = label(i);
  }
  return out;
}

Subset::Subset(DatasetPtr base, std::vector<size_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  if (!base_) {
    fail("Subset - base dataset is null");
  }
  for (size_t idx : indices_) {
    if (idx >= base_->size()) {
      fail(
          "Subset - index out of range: {{got {}, base size {}}}",
          idx,
          base_->size());
    }
  }
}

Example Subset::get(size_t i) const {
  return base_->get(indices_.at(i));
}

int64_t Subset::label(size_t i) const {
  return base_->label(indices_.at(i));
}

std::string Subset::describe(size_t i) const {
  return base_->describe(indices_.at(i));
}

InMemoryDataset::InMemoryDataset(
    std::vector<Image> images,
    std::vector<int64_t> labels,
    std::vector<std::string> class_names)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      names_(std::move(class_names)) {
  if (images_.size() != labels_.size()) {
    fail(
        "InMemoryDataset - {} images but {} labels",
        images_.size(),
        labels_.size());
  }
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] < 0 || labels_[i] >= static_cast<int64_t>(names_.size())) {
      fail(
          "InMemoryDataset - label out of range: {{sample {}, label {}, {} "
          "classes}}",
          i,
          labels_[i],
          names_.size());
    }
  }
}

Example InMemoryDataset::get(size_t i) const {
  return {images_.at(i), labels_.at(i)};
}

int64_t InMemoryDataset::label(size_t i) const {
  return labels_.at(i);
}

std::string InMemoryDataset::describe(size_t i) const {
  return "memory#" + std::to_string(i);
}

}  // namespace ltcl::data
