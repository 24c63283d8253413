#pragma once
// Multi-view examples: every draw of a sample yields V views of one decoded
// image, each through its own recipe (BCL: cifar_weak, simclr, simclr).
//
// Determinism: view v of a draw uses the random stream
//   util::Rng{seed, stream, epoch, position, index, v}
// where `position` is the draw's place in its sampler's epoch sequence (before
// the split over ranks) and `stream` tells the two sampler streams of a paired
// loader apart. The views of a sample therefore depend only on these numbers,
// never on which worker thread made them or when; and a sample drawn twice in
// one epoch (class-balanced sampling) gets independent augmentations.
#include <cstdint>
#include <functional>
#include <vector>

#include "ltcl/augment/recipe.h"
#include "ltcl/data/dataset.h"

namespace ltcl::pipeline {

// Names one draw of one sample.
struct DrawKey {
  uint64_t seed = 0;
  int64_t stream = 0;
  int64_t epoch = 0;
  int64_t position = 0;
  int64_t index = 0;  // dataset index
};

inline util::Rng view_rng(const DrawKey& key, size_t view) {
  return util::Rng{
      key.seed,
      static_cast<uint64_t>(key.stream),
      static_cast<uint64_t>(key.epoch),
      static_cast<uint64_t>(key.position),
      static_cast<uint64_t>(key.index),
      static_cast<uint64_t>(view)};
}

class MultiViewDataset {
 public:
  // At least one view; all views must agree on the channel count.
  MultiViewDataset(data::DatasetPtr base, std::vector<augment::Recipe> views);

  size_t size() const {
    return base_->size();
  }
  size_t num_views() const {
    return views_.size();
  }
  const augment::Recipe& view(size_t v) const {
    return views_.at(v);
  }
  const data::Dataset& base() const {
    return *base_;
  }
  const data::DatasetPtr& base_ptr() const {
    return base_;
  }

  // Decodes sample key.index once, augments it into every view and writes
  // view v, normalised float CHW, to outs[v] (view(v).channels * height *
  // width floats). Returns the label. A gray image feeding RGB recipes is
  // replicated to 3 channels (an RGB one feeding gray recipes is converted to
  // luma). Throws ltcl::Error naming the sample (describe()) when a view does
  // not come out at its recipe's shape.
  int64_t fill(const DrawKey& key, float* const* outs) const;

  // The augmented uint8 views of one draw (for previews), label in *label.
  std::vector<data::Image> augment(const DrawKey& key, int64_t* label) const;

 private:
  data::Example load(size_t index) const;
  // Loads sample key.index and runs view v's recipe on its own copy (the
  // last view takes the loaded image itself), handing each result to
  // visit(v, image); an error names the sample and its file. The label.
  int64_t draw(
      const DrawKey& key,
      const std::function<void(size_t, data::Image&)>& visit) const;

  data::DatasetPtr base_;
  std::vector<augment::Recipe> views_;
};

}  // namespace ltcl::pipeline
