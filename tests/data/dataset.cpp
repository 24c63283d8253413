#include "ltcl/data/dataset.h"

#include <gtest/gtest.h>

#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::data::Dataset;
using ltcl::data::Example;

// A tiny in-memory dataset: sample i is a 1x1 gray image of value i.
class Counting : public Dataset {
 public:
  explicit Counting(std::vector<int64_t> labels, int classes = 3)
      : labels_(std::move(labels)) {
    for (int c = 0; c < classes; ++c) {
      names_.push_back("c" + std::to_string(c));
    }
  }
  size_t size() const override {
    return labels_.size();
  }
  Example get(size_t i) const override {
    Example e{ltcl::data::Image(1, 1, 1), labels_[i]};
    e.image.pixels[0] = static_cast<uint8_t>(i);
    return e;
  }
  int64_t label(size_t i) const override {
    return labels_[i];
  }
  const std::vector<std::string>& class_names() const override {
    return names_;
  }
  std::string describe(size_t i) const override {
    return "mem#" + std::to_string(i);
  }

 private:
  std::vector<int64_t> labels_;
  std::vector<std::string> names_;
};

TEST(DataDataset, ClassCountsAndLabels) {
  Counting d({0, 2, 2, 1, 2});
  EXPECT_EQ(d.class_counts(), (std::vector<int64_t>{1, 1, 3}));
  EXPECT_EQ(d.labels(), (std::vector<int64_t>{0, 2, 2, 1, 2}));
  EXPECT_EQ(d.num_classes(), 3);
}

TEST(DataDataset, LabelOutOfRangeNamesTheSample) {
  Counting d({0, 5});
  ltcl::test::expect_error([&] { d.class_counts(); }, {"mem#1"});
}

TEST(DataSubset, ViewsBaseInGivenOrder) {
  auto base = std::make_shared<Counting>(std::vector<int64_t>{0, 1, 2, 0});
  ltcl::data::Subset s(base, {3, 1});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.get(0).image.pixels[0], 3);
  EXPECT_EQ(s.label(1), 1);
  EXPECT_EQ(s.describe(0), "mem#3");
  EXPECT_EQ(s.class_counts(), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_THROW(ltcl::data::Subset(base, {4}), ltcl::Error);
}

}  // namespace
