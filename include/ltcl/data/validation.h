#pragma once
// Validation sets that never touch the test set (docs/datasets.md,
// "Validation"). Index arithmetic only: labels in, index lists out; nothing
// is decoded.
//
// - From the images a long-tail selection left out (CIFAR-LT, MNIST-LT):
//   `per_class` images of every class, drawn from the class's left-out
//   images. A class with fewer left-out images than that (the head class of
//   an exponential profile keeps all of its images) takes the shortfall from
//   the end of its training selection, and those images leave the training
//   set, so validation and training stay disjoint and the validation set
//   stays balanced.
// - A stratified held-out fraction of a training set (a user's folder or
//   list without a `val` split): round(fraction * n_c) images of each class,
//   at least one when the class has two or more, never the last one.
//
// Both draw with NumPy's legacy generator (data/long_tail.h) seeded with
// `seed`, shuffling each class's candidates in class order, so the set is
// the same for every training seed of a study.
#include <cstdint>
#include <vector>

namespace ltcl::data {

struct HeldOut {
  std::vector<size_t> train;  // kept training indices, in their old order
  std::vector<size_t> val;    // validation indices, class by class
  // Per class: validation images taken out of the training selection.
  std::vector<int64_t> from_train;
};

// `base_labels` are the labels of the whole (balanced) training split,
// `kept` the long-tail selection's indices into it. Indices in the result
// index `base_labels`. Throws ltcl::Error when per_class < 1, a label is
// outside [0, num_classes), `kept` holds an index out of range or twice, or
// a class would lose its last training image.
HeldOut validation_from_left_out(
    const std::vector<int64_t>& base_labels,
    const std::vector<size_t>& kept,
    int64_t num_classes,
    int64_t per_class,
    uint32_t seed);

// Indices into `labels`. Throws ltcl::Error unless 0 < fraction < 1.
HeldOut stratified_holdout(
    const std::vector<int64_t>& labels,
    int64_t num_classes,
    double fraction,
    uint32_t seed);

}  // namespace ltcl::data
