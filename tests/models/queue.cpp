// models::LabeledQueue (PaCo / GPaCo's FIFO of labelled keys) against a naive
// queue written here: one entry at a time, a write position that wraps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "ltcl/models/queue.h"
#include "support.h"

namespace {

using ltcl::models::LabeledQueue;
using ltcl::models::LabeledQueueOptions;

// The naive reference: rows written one by one at pos, pos+1, ... mod K.
struct NaiveQueue {
  std::vector<std::vector<float>> keys;
  std::vector<int64_t> labels;
  int64_t pos = 0;

  void enqueue(const torch::Tensor& k, const torch::Tensor& y) {
    const int64_t K = static_cast<int64_t>(keys.size());
    for (int64_t i = 0; i < k.size(0); ++i) {
      for (int64_t d = 0; d < k.size(1); ++d) {
        keys[pos][d] = k[i][d].item<float>();
      }
      labels[pos] = y[i].item<int64_t>();
      pos = (pos + 1) % K;
    }
  }
};

TEST(LabeledQueue, InitialContentIsTheOfficialDrawAndSeeded) {
  LabeledQueue q(LabeledQueueOptions(64, 5, 7).seed(3));
  ASSERT_EQ(q->keys.sizes(), (std::vector<int64_t>{64, 5}));
  EXPECT_EQ(q->keys.scalar_type(), torch::kFloat);
  // Each of the D columns is a unit vector over the K entries.
  auto col = q->keys.to(torch::kDouble).norm(2, {0});
  EXPECT_TRUE(torch::allclose(col, torch::ones({5}, torch::kDouble), 0, 1e-6))
      << col;
  EXPECT_GE(q->labels.min().item<int64_t>(), 0);
  EXPECT_LT(q->labels.max().item<int64_t>(), 7);
  EXPECT_GT(std::get<0>(torch::_unique(q->labels)).numel(), 4);
  EXPECT_EQ(q->position.item<int64_t>(), 0);
  LabeledQueue same(LabeledQueueOptions(64, 5, 7).seed(3));
  LabeledQueue other(LabeledQueueOptions(64, 5, 7).seed(4));
  EXPECT_TRUE(torch::equal(q->keys, same->keys));
  EXPECT_TRUE(torch::equal(q->labels, same->labels));
  EXPECT_FALSE(torch::equal(q->keys, other->keys));
  // Saved with the module (a checkpoint holds them).
  auto names = q->named_buffers();
  EXPECT_TRUE(names.contains("keys"));
  EXPECT_TRUE(names.contains("labels"));
  EXPECT_TRUE(names.contains("position"));
}

TEST(LabeledQueue, EnqueueEqualsAOneByOneFifo) {
  const int64_t K = 5, D = 3;
  LabeledQueue q(LabeledQueueOptions(K, D, 4));
  NaiveQueue naive;
  for (int64_t i = 0; i < K; ++i) {
    naive.keys.emplace_back(
        q->keys[i].data_ptr<float>(), q->keys[i].data_ptr<float>() + D);
    naive.labels.push_back(q->labels[i].item<int64_t>());
  }
  torch::manual_seed(1);
  // Batches of 3, 3 (wraps), 7 (more than K: the last K survive), 5, 1.
  for (int64_t b : {3, 3, 7, 5, 1, 0}) {
    auto k = torch::randn({b, D}, torch::kDouble);
    auto y = torch::randint(0, 4, {b}, torch::kLong);
    q->enqueue(k, y);
    naive.enqueue(k.to(torch::kFloat), y);
    EXPECT_EQ(q->position.item<int64_t>(), naive.pos) << "batch " << b;
    for (int64_t i = 0; i < K; ++i) {
      EXPECT_EQ(q->labels[i].item<int64_t>(), naive.labels[i]);
      for (int64_t d = 0; d < D; ++d) {
        EXPECT_EQ(q->keys[i][d].item<float>(), naive.keys[i][d])
            << "batch " << b << " entry " << i;
      }
    }
  }
  // By hand, the first two batches: slots 0-2, then 3, 4, 0; position 1.
  LabeledQueue h(LabeledQueueOptions(K, 1, 9));
  h->enqueue(torch::tensor({{1.f}, {2.f}, {3.f}}), torch::tensor({1, 2, 3}));
  h->enqueue(torch::tensor({{4.f}, {5.f}, {6.f}}), torch::tensor({4, 5, 6}));
  EXPECT_TRUE(torch::equal(
      h->keys.flatten(), torch::tensor({6.f, 2.f, 3.f, 4.f, 5.f})));
  EXPECT_TRUE(torch::equal(h->labels, torch::tensor({6, 2, 3, 4, 5}, torch::kLong)));
  EXPECT_EQ(h->position.item<int64_t>(), 1);
}

TEST(LabeledQueue, BadInputsNameWhatIsWrong) {
  using ltcl::test::expect_error;
  expect_error([] { LabeledQueue(LabeledQueueOptions(0, 3, 2)); }, {"size"});
  LabeledQueue q(LabeledQueueOptions(4, 3, 2));
  expect_error(
      [&] { q->enqueue(torch::zeros({2, 4}), torch::zeros({2}, torch::kLong)); },
      {"keys [B, 3]", "[2, 4]"});
  expect_error(
      [&] { q->enqueue(torch::zeros({2, 3}), torch::zeros({3}, torch::kLong)); },
      {"labels [B]"});
  expect_error(
      [&] { q->enqueue(torch::zeros({2, 3}), torch::tensor({0, 2})); },
      {"[0, 2)", "0 .. 2"});
  // Nothing was written by the refused calls.
  EXPECT_EQ(q->position.item<int64_t>(), 0);
}

}  // namespace
