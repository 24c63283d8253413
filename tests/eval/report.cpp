#include "ltcl/eval/report.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/eval/meters.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::eval;

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// 10 test samples over 4 classes; predictions chosen by hand:
//   class 0: 0 0 0 1 -> 3/4 = 75 %
//   class 1: 1 2     -> 1/2 = 50 %
//   class 2: 2 2     -> 2/2 = 100 %
//   class 3: 0 0     -> 0/2 = 0 %
const std::vector<int64_t> kTargets = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3};
const std::vector<int64_t> kPreds = {0, 0, 0, 1, 1, 2, 2, 2, 0, 0};

ConfusionMeter hand_confusion() {
  ConfusionMeter m(4);
  // Half through logits (argmax), half through predicted ids.
  auto logits = torch::one_hot(torch::tensor(kPreds), 4).to(torch::kFloat);
  auto targets = torch::tensor(kTargets);
  m.add(logits.slice(0, 0, 5), targets.slice(0, 0, 5));
  m.add(torch::tensor(kPreds).slice(0, 5), targets.slice(0, 5));
  return m;
}

TEST(Meters, ConfusionHandValues) {
  ConfusionMeter m = hand_confusion();
  const std::vector<int64_t> expected = {
      3, 1, 0, 0,  //
      0, 1, 1, 0,  //
      0, 0, 2, 0,  //
      2, 0, 0, 0};
  EXPECT_EQ(m.value(), expected);
  EXPECT_EQ(m.total(), 10);
  EXPECT_DOUBLE_EQ(m.accuracy(), 60.0);
  auto acc = m.per_class_accuracy();
  EXPECT_DOUBLE_EQ(acc[0], 75.0);
  EXPECT_DOUBLE_EQ(acc[1], 50.0);
  EXPECT_DOUBLE_EQ(acc[2], 100.0);
  EXPECT_DOUBLE_EQ(acc[3], 0.0);
  EXPECT_EQ(m.class_totals(), (std::vector<int64_t>{4, 2, 2, 2}));
  m.reset();
  EXPECT_EQ(m.total(), 0);
  EXPECT_TRUE(std::isnan(m.accuracy()));
  EXPECT_TRUE(std::isnan(m.per_class_accuracy()[0]));
}

TEST(Meters, BadInputsThrow) {
  ConfusionMeter m(3);
  EXPECT_THROW(m.add(3, 0), ltcl::Error);
  EXPECT_THROW(m.add(0, -1), ltcl::Error);
  EXPECT_THROW(m.add(torch::zeros({4, 5}), torch::zeros({4}, torch::kLong)),
               ltcl::Error);
  EXPECT_THROW(m.add(torch::zeros({4}, torch::kLong), torch::zeros({3}, torch::kLong)),
               ltcl::Error);
  EXPECT_THROW(ConfusionMeter(0), ltcl::Error);
  TopKMeter top(2);
  EXPECT_THROW(top.add(torch::zeros({2, 1}), torch::zeros({2}, torch::kLong)),
               ltcl::Error);
  ltcl::test::expect_error(
      [&] {
        top.add(torch::zeros({2, 3}), torch::zeros({3}, torch::kLong));
      },
      {"[2, 3]"});
}

TEST(Meters, TopKAndAverage) {
  // Rows: label 2 is top-1; label 0 is 2nd; label 1 is 3rd.
  auto logits = torch::tensor({{0.1f, 0.2f, 0.9f}, {0.5f, 0.1f, 0.9f},
                               {0.5f, 0.1f, 0.9f}});
  auto targets = torch::tensor({2, 0, 1});
  TopKMeter top1(1), top2(2);
  top1.add(logits, targets);
  top2.add(logits, targets);
  EXPECT_NEAR(top1.value(), 100.0 / 3, 1e-12);
  EXPECT_NEAR(top2.value(), 200.0 / 3, 1e-12);
  EXPECT_EQ(top1.count(), 3);
  top1.reset();
  EXPECT_TRUE(std::isnan(top1.value()));
  AverageMeter avg;
  avg.add(2.0, 3);
  avg.add(4.0, 1);
  EXPECT_DOUBLE_EQ(avg.value(), 2.5);
  avg.reset();
  EXPECT_TRUE(std::isnan(avg.value()));
}

TEST(Report, GroupsAndAccuracies) {
  // Train counts 500 / 100 / 30 / 5: many, medium, medium, few.
  EvalReport r = make_report(
      hand_confusion(), {500, 100, 30, 5}, {"cat", "dog", "cow, big", "eel"});
  EXPECT_DOUBLE_EQ(r.top1, 60.0);
  EXPECT_DOUBLE_EQ(r.mean_class, (75.0 + 50 + 100 + 0) / 4);
  EXPECT_DOUBLE_EQ(r.many, 75.0);
  EXPECT_DOUBLE_EQ(r.medium, 75.0);  // (50 + 100) / 2
  EXPECT_DOUBLE_EQ(r.few, 0.0);
  EXPECT_EQ(r.many_classes, 1);
  EXPECT_EQ(r.medium_classes, 2);
  EXPECT_EQ(r.few_classes, 1);
  EXPECT_EQ(r.per_class[2].name, "cow, big");
  EXPECT_EQ(r.per_class[2].correct, 2);
  // Custom thresholds: 30 is now "few".
  EvalReport r2 = make_report(hand_confusion(), {500, 100, 30, 5}, {},
                              ShotThresholds{200, 50});
  EXPECT_DOUBLE_EQ(r2.medium, 50.0);
  EXPECT_DOUBLE_EQ(r2.few, 50.0);  // (100 + 0) / 2
  EXPECT_EQ(r2.per_class[0].name, "0");
  // An empty group is NaN, not 0.
  EvalReport r3 = make_report(hand_confusion(), {500, 500, 500, 500});
  EXPECT_TRUE(std::isnan(r3.few));
  EXPECT_DOUBLE_EQ(r3.many, 56.25);
  EXPECT_THROW(make_report(hand_confusion(), {1, 2, 3}), ltcl::Error);
  EXPECT_THROW(make_report(hand_confusion(), {1, 2, 3, 4}, {"a"}), ltcl::Error);
  // Boundaries: 101 many, 100 and 20 medium, 19 few.
  EvalReport r4 = make_report(hand_confusion(), {101, 100, 20, 19});
  EXPECT_EQ(r4.per_class[0].group, ShotGroup::kMany);
  EXPECT_EQ(r4.per_class[1].group, ShotGroup::kMedium);
  EXPECT_EQ(r4.per_class[2].group, ShotGroup::kMedium);
  EXPECT_EQ(r4.per_class[3].group, ShotGroup::kFew);
}

TEST(Report, Writers) {
  ltcl::test::TempDir dir;
  EvalReport r = make_report(
      hand_confusion(), {500, 100, 30, 5}, {"cat", "dog", "cow, big", "eel"});
  auto jsonl = (dir / "metrics.jsonl").string();
  append_metrics_jsonl(jsonl, r, {{"epoch", 3}, {"lr", 0.05}});
  append_metrics_jsonl(jsonl, r, {{"epoch", 4}});
  std::istringstream lines(read_all(jsonl));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["epoch"].get<int>(), 3 + n);
    EXPECT_DOUBLE_EQ(j["top1"].get<double>(), 60.0);
    EXPECT_DOUBLE_EQ(j["few"].get<double>(), 0.0);
    EXPECT_FALSE(j.contains("per_class"));
    ++n;
  }
  EXPECT_EQ(n, 2);

  auto json_path = (dir / "metrics.json").string();
  EvalReport r3 = make_report(hand_confusion(), {500, 500, 500, 500});
  write_metrics_json(json_path, r3, {{"epoch", 9}});
  auto j = nlohmann::json::parse(read_all(json_path));
  EXPECT_DOUBLE_EQ(j["many"].get<double>(), 56.25);
  EXPECT_FALSE(j.contains("few"));  // an empty group is left out, not null
  ASSERT_EQ(j["per_class"].size(), 4u);
  EXPECT_EQ(j["per_class"][1]["group"], "many");
  EXPECT_DOUBLE_EQ(j["per_class"][1]["accuracy"].get<double>(), 50.0);
  EXPECT_EQ(j["per_class"][1]["test_count"].get<int>(), 2);

  auto csv = (dir / "per_class.csv").string();
  write_per_class_csv(csv, r);
  EXPECT_EQ(
      read_all(csv),
      "class,name,train_count,group,test_count,accuracy\n"
      "0,cat,500,many,4,75.0000\n"
      "1,dog,100,medium,2,50.0000\n"
      "2,\"cow, big\",30,medium,2,100.0000\n"
      "3,eel,5,few,2,0.0000\n");
  auto conf = (dir / "confusion.csv").string();
  write_confusion_csv(conf, r);
  EXPECT_EQ(
      read_all(conf),
      "true\\predicted,cat,dog,\"cow, big\",eel\n"
      "cat,3,1,0,0\n"
      "dog,0,1,1,0\n"
      "\"cow, big\",0,0,2,0\n"
      "eel,2,0,0,0\n");
  EXPECT_EQ(csv_field("a\"b"), "\"a\"\"b\"");
}

}  // namespace
