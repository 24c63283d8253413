#pragma once
// A FIFO memory of the last K labelled embeddings (PaCo / GPaCo's queue,
// MoCo's with labels; METHODS.md section 10), held in buffers so that it
// follows .to(device) and is saved in every checkpoint: a resumed run
// continues with the same queue.
//
//   LabeledQueue q(LabeledQueueOptions(8192, 128, 1000).seed(7));
//   auto contrast = torch::cat({keys_of_the_batch, q->keys});  // [B + K, D]
//   ...                                                     // loss, step
//   q->enqueue(batch_keys, batch_labels);   // replaces the oldest B entries
//
// The initial content is the official code's: keys a standard normal
// [K, D] draw normalised over dim 0 (each of the D columns a unit vector
// over the K entries, so every initial key is short, |k| ~ sqrt(D / K),
// and barely moves the loss), labels uniform in [0, C); drawn from a
// generator seeded with options.seed (the official code uses torch's
// global one), so that every process starts with the same queue. After
// K / B steps every entry is a real key.
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace ltcl::models {

struct LabeledQueueOptions {
  LabeledQueueOptions(int64_t size, int64_t dim, int64_t num_classes)
      : size_(size), dim_(dim), num_classes_(num_classes) {}
  TORCH_ARG(int64_t, size);  // K
  TORCH_ARG(int64_t, dim);  // D
  TORCH_ARG(int64_t, num_classes);  // C: the initial labels' range
  TORCH_ARG(uint64_t, seed) = 0;
};

// Buffers: keys [K, D] float32, labels [K] int64, position [1] int64 (the
// next entry to overwrite).
class LabeledQueueImpl : public torch::nn::Cloneable<LabeledQueueImpl> {
 public:
  explicit LabeledQueueImpl(const LabeledQueueOptions& options);
  // The initial content (above).
  void reset() override;
  // keys [B, D] (any floating dtype, stored as float32, detached) and labels
  // [B] in [0, C) replace the oldest B entries, in row order, wrapping
  // around; B > K keeps the last K rows. Throws ltcl::Error on shapes or
  // labels.
  void enqueue(const torch::Tensor& keys, const torch::Tensor& labels);
  void pretty_print(std::ostream& stream) const override;

  LabeledQueueOptions options;
  torch::Tensor keys, labels, position;
};
TORCH_MODULE(LabeledQueue);

}  // namespace ltcl::models
