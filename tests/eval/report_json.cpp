// The JSON writers of report.h: absent groups are left out (never null or
// NaN) in report_json, calibration_json and embedding_metrics_json. Builds
// its inputs without torch (no ConfusionMeter, no support.h).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "ltcl/eval/report.h"

namespace {

using ltcl::data::ShotGroup;
using namespace ltcl::eval;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// No null anywhere in the text (nlohmann writes NaN as null).
void expect_no_null(const std::string& text) {
  EXPECT_EQ(text.find("null"), std::string::npos) << text;
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
}

TEST(ReportJson, EmptyShotGroupsAreLeftOut) {
  EvalReport r;
  r.top1 = 60;
  r.mean_class = 55;
  r.many = 70;
  r.medium = 40;
  r.few = kNaN;  // no few class with test images
  r.many_classes = 2;
  r.medium_classes = 1;
  r.few_classes = 0;
  r.samples = 30;
  const std::string text = report_json(r, {{"epoch", 3}});
  auto j = nlohmann::json::parse(text);
  EXPECT_DOUBLE_EQ(j["many"].get<double>(), 70.0);
  EXPECT_DOUBLE_EQ(j["medium"].get<double>(), 40.0);
  EXPECT_FALSE(j.contains("few"));
  EXPECT_EQ(j["few_classes"].get<int>(), 0);  // the size is still there
  EXPECT_EQ(j["epoch"].get<int>(), 3);
  expect_no_null(text);
  r.many = kNaN;
  j = nlohmann::json::parse(report_json(r));
  EXPECT_FALSE(j.contains("many"));
  EXPECT_TRUE(j.contains("medium"));
}

CalibrationReport hand_calibration(int64_t classes, bool with_few) {
  CalibrationMeter m(classes);
  m.add(0.95, true, 0.1, true, 0);
  m.add(0.55, false, 0.9, true, 1);
  std::vector<ShotGroup> groups(classes, ShotGroup::kMany);
  groups[1] = ShotGroup::kMedium;
  if (with_few) {
    groups[0] = ShotGroup::kFew;
  }
  return calibration(m, groups);
}

TEST(ReportJson, Calibration) {
  const std::string text = calibration_json(hand_calibration(10, false));
  expect_no_null(text);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["samples"].get<int>(), 2);
  EXPECT_EQ(j["num_bins"].get<int>(), 15);
  // Bins 14 (gap 0.05) and 8 (gap 0.55): ECE = (0.05 + 0.55) / 2.
  EXPECT_NEAR(j["ece"].get<double>(), 0.3, 1e-12);
  EXPECT_NEAR(j["mce"].get<double>(), 0.55, 1e-12);
  EXPECT_NEAR(j["nll"].get<double>(), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(j["top1"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(j["top5"].get<double>(), 100.0);
  ASSERT_TRUE(j.contains("many"));
  EXPECT_EQ(j["many"]["samples"].get<int>(), 1);
  EXPECT_NEAR(j["medium"]["ece"].get<double>(), 0.55, 1e-12);
  EXPECT_FALSE(j.contains("few"));
  ASSERT_EQ(j["bins"].size(), 15u);
  EXPECT_EQ(j["bins"][14]["count"].get<int>(), 1);
  EXPECT_DOUBLE_EQ(j["bins"][14]["accuracy"].get<double>(), 1.0);
  EXPECT_FALSE(j["bins"][0].contains("accuracy"));  // empty bin
  EXPECT_FALSE(j["bins"][0].contains("confidence"));
  EXPECT_DOUBLE_EQ(j["bins"][0]["upper"].get<double>(), 1.0 / 15);
  // <= 5 classes: no top5; the few group present now.
  auto j5 = nlohmann::json::parse(calibration_json(hand_calibration(5, true)));
  EXPECT_FALSE(j5.contains("top5"));
  EXPECT_TRUE(j5.contains("few"));
  EXPECT_FALSE(j5.contains("many"));
}

void push_angle(std::vector<float>& v, double degrees) {
  v.push_back(static_cast<float>(std::cos(degrees * M_PI / 180)));
  v.push_back(static_cast<float>(std::sin(degrees * M_PI / 180)));
}

TEST(ReportJson, EmbeddingMetrics) {
  // Reference: classes 0, 1, 2 at 0, 100, 180 deg; evaluated: class 0 at
  // 0 deg and class 3 (no centroid) at 45 deg. Class 1 (medium) and class 2
  // (few) have no evaluated rows: only many is measured.
  std::vector<float> ref, x;
  push_angle(ref, 0);
  push_angle(ref, 100);
  push_angle(ref, 180);
  push_angle(x, 0);
  push_angle(x, 45);
  std::vector<int64_t> ref_y = {0, 1, 2}, y = {0, 3};
  auto m = embedding_metrics(
      EmbeddingView(x, y, 2),
      4,
      {500, 50, 5, 5},
      {},
      EmbeddingView(ref, ref_y, 2));
  const std::string text = embedding_metrics_json(m, true);
  expect_no_null(text);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["num_classes"].get<int>(), 4);
  EXPECT_EQ(j["measured_classes"].get<int>(), 1);
  EXPECT_EQ(j["centroid_classes"].get<int>(), 3);
  EXPECT_TRUE(j["separate_reference"].get<bool>());
  EXPECT_NEAR(j["compactness"].get<double>(), 1.0, 1e-6);
  // 1 - max(cos 100, cos 180) = 1 + sin 10.
  EXPECT_NEAR(j["margin"].get<double>(), 1 + std::sin(M_PI / 18), 1e-6);
  EXPECT_DOUBLE_EQ(j["nca_samples"].get<double>(), 50.0);
  EXPECT_TRUE(j.contains("many"));
  EXPECT_EQ(j["many"]["classes"].get<int>(), 1);
  EXPECT_FALSE(j.contains("medium"));
  EXPECT_FALSE(j.contains("few"));
  EXPECT_FALSE(j.contains("separation_ratio"));
  EXPECT_FALSE(j.contains("compactness_ratio"));
  EXPECT_TRUE(j.contains("separation_cv"));
  ASSERT_EQ(j["per_class"].size(), 4u);
  EXPECT_TRUE(j["per_class"][0].contains("margin"));
  EXPECT_FALSE(j["per_class"][1].contains("compactness"));
  // Class 1's nearest centroid: class 2 at 80 deg (class 0 at 100).
  EXPECT_NEAR(
      j["per_class"][1]["separation"].get<double>(),
      1 - std::cos(M_PI * 80 / 180),
      1e-6);
  EXPECT_EQ(j["per_class"][1]["nearest_class"].get<int>(), 2);
  EXPECT_FALSE(j["per_class"][3].contains("separation"));
  EXPECT_FALSE(j["per_class"][3].contains("nca"));
  EXPECT_EQ(j["per_class"][3]["samples"].get<int>(), 1);
  EXPECT_EQ(j["per_class"][3]["group"], "few");
  EXPECT_FALSE(
      nlohmann::json::parse(embedding_metrics_json(m)).contains("per_class"));
}

}  // namespace
