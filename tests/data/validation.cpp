// Validation splits (data/validation.h): hand-checked index lists and the
// invariants (disjoint, balanced, deterministic) on a CIFAR-10-LT-shaped
// label set.
#include "ltcl/data/validation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "ltcl/data/long_tail.h"
#include "support.h"

namespace ltcl::data {
namespace {

// Three classes of 4 images; class 0 keeps all, class 1 keeps 2, class 2 one.
TEST(Validation, LeftOutTakesShortfallFromTheEndOfTheTrainingSelection) {
  const std::vector<int64_t> labels = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  const std::vector<size_t> kept = {3, 1, 0, 2, 5, 4, 8};
  auto h = validation_from_left_out(labels, kept, 3, 2, 0);
  // Class 0 has no left-out image: its last two selected images (0, 2)
  // move to validation and leave the training set.
  ASSERT_EQ(h.from_train, (std::vector<int64_t>{2, 0, 0}));
  EXPECT_EQ(h.train, (std::vector<size_t>{3, 1, 5, 4, 8}));
  ASSERT_EQ(h.val.size(), 6u);
  EXPECT_EQ(std::set<size_t>(h.val.begin(), h.val.begin() + 2),
            (std::set<size_t>{0, 2}));
  // Class 1's left-out images are 6 and 7, class 2's three of 9, 10, 11.
  EXPECT_EQ(std::set<size_t>(h.val.begin() + 2, h.val.begin() + 4),
            (std::set<size_t>{6, 7}));
  for (size_t j = 4; j < 6; ++j) {
    EXPECT_TRUE(h.val[j] >= 9 && h.val[j] <= 11) << h.val[j];
  }
}

TEST(Validation, LeftOutOnCifar10LtIsBalancedDisjointAndSeedStable) {
  std::vector<int64_t> labels;
  for (int c = 0; c < 10; ++c) {
    labels.insert(labels.end(), 5000, c);
  }
  const auto counts = long_tail_counts(10, 5000, 100, "exp");
  const auto kept = select_long_tail(labels, 10, counts, 0);
  ASSERT_EQ(kept.size(), 12406u);
  auto h = validation_from_left_out(labels, kept, 10, 50, 0);
  EXPECT_EQ(h.val.size(), 500u);
  // Only the head class (5000 kept of 5000) gives up training images.
  std::vector<int64_t> want_from(10, 0);
  want_from[0] = 50;
  EXPECT_EQ(h.from_train, want_from);
  EXPECT_EQ(h.train.size(), 12406u - 50u);
  std::vector<int64_t> per(10, 0);
  for (size_t i : h.val) {
    ++per[labels[i]];
  }
  EXPECT_EQ(per, std::vector<int64_t>(10, 50));
  std::set<size_t> train(h.train.begin(), h.train.end());
  for (size_t i : h.val) {
    EXPECT_EQ(train.count(i), 0u) << "validation index " << i << " trained on";
  }
  EXPECT_EQ(std::set<size_t>(h.val.begin(), h.val.end()).size(), 500u);
  auto again = validation_from_left_out(labels, kept, 10, 50, 0);
  EXPECT_EQ(again.val, h.val);
  auto other = validation_from_left_out(labels, kept, 10, 50, 1);
  EXPECT_NE(other.val, h.val);
}

TEST(Validation, LeftOutRefusesToEmptyAClass) {
  const std::vector<int64_t> labels = {0, 0, 1, 1};
  test::expect_error(
      [&] { validation_from_left_out(labels, {0, 1, 2}, 2, 2, 0); },
      {"class 0", "no training image", "data.val_per_class"});
  test::expect_error(
      [&] { validation_from_left_out(labels, {0, 0}, 2, 1, 0); },
      {"selected twice"});
  test::expect_error(
      [&] { validation_from_left_out(labels, {7}, 2, 1, 0); },
      {"index 7"});
  test::expect_error(
      [&] { validation_from_left_out({0, 5}, {0}, 2, 1, 0); },
      {"sample 1", "got 5"});
}

TEST(Validation, StratifiedHoldoutRoundsPerClassAndKeepsOneForTraining) {
  // Class sizes 10, 3, 1, 2.
  std::vector<int64_t> labels;
  for (int c : {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 3, 3}) {
    labels.push_back(c);
  }
  auto h = stratified_holdout(labels, 4, 0.2, 0);
  // round(2.0) = 2, round(0.6) = 1, the single image stays, max(round(0.4),
  // 1) = 1 but never the last one: 1 of 2.
  EXPECT_EQ(h.from_train, (std::vector<int64_t>{2, 1, 0, 1}));
  EXPECT_EQ(h.val.size(), 4u);
  EXPECT_EQ(h.train.size(), labels.size() - 4);
  std::set<size_t> all(h.train.begin(), h.train.end());
  for (size_t i : h.val) {
    EXPECT_TRUE(all.insert(i).second);
  }
  EXPECT_EQ(all.size(), labels.size());
  test::expect_error(
      [&] { stratified_holdout(labels, 4, 1.0, 0); }, {"fraction", "got 1"});
}

}  // namespace
}  // namespace ltcl::data
