// The open_dataset / make_long_tailed factory and `ltcl data stats`, end to
// end through the built program.
#include "ltcl/data/open.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ltcl/data/image_io.h"
#include "ltcl/data/long_tail.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::data::DatasetSpec;
using ltcl::data::LongTailSpec;

using ltcl::test::expect_error;

// root/<split>/c<k>/<i>.png with `per_class[k]` tiny PNGs each.
void make_folder(const fs::path& root, const std::vector<int>& per_class) {
  ltcl::data::Image img(2, 2, 3);
  for (size_t k = 0; k < per_class.size(); ++k) {
    const fs::path dir = root / ("c" + std::to_string(k));
    fs::create_directories(dir);
    for (int i = 0; i < per_class[k]; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "%04d.png", i);
      ltcl::data::write_png(dir / name, img);
    }
  }
}

TEST(DataOpen, FolderAndListKinds) {
  ltcl::test::TempDir tmp;
  make_folder(tmp / "train", {30, 30, 30});
  DatasetSpec spec;
  spec.kind = "folder";
  spec.root = tmp.path().string();  // parent of train/: split picks it
  auto ds = ltcl::data::open_dataset(spec);
  EXPECT_EQ(ds->size(), 90u);
  EXPECT_EQ(ds->class_names()[2], "c2");
  spec.root = (tmp / "train").string();
  EXPECT_EQ(ltcl::data::open_dataset(spec)->size(), 90u);

  std::ofstream(tmp / "train" / "train.txt")
      << "c0/0001.png 1\nc2/0003.png 0\n";
  spec.kind = "list";
  auto list = ltcl::data::open_dataset(spec);  // <root>/train.txt
  EXPECT_EQ(list->labels(), (std::vector<int64_t>{1, 0}));
  spec.split = "test";
  expect_error([&] { ltcl::data::open_dataset(spec); }, {"test.txt"});
  spec.list_file = (tmp / "train" / "train.txt").string();
  EXPECT_EQ(ltcl::data::open_dataset(spec)->size(), 2u);
}

TEST(DataOpen, BadSpecsThrow) {
  DatasetSpec spec;
  spec.kind = "cifar10";
  spec.root = "/definitely/not/here";
  expect_error(
      [&] { ltcl::data::open_dataset(spec); }, {"/definitely/not/here"});
  ltcl::test::TempDir tmp;
  spec.root = tmp.path().string();
  spec.kind = "imagenet";
  expect_error([&] { ltcl::data::open_dataset(spec); }, {"imagenet"});
  // CIFAR and IDX have train and test only; folder / list kinds take any
  // plain split name (val, ...), never a path.
  spec.kind = "cifar10";
  spec.split = "val";
  expect_error(
      [&] { ltcl::data::open_dataset(spec); }, {"cifar10", "'val'", "train|test"});
  spec.kind = "folder";
  spec.split = "../x";
  expect_error([&] { ltcl::data::open_dataset(spec); }, {"plain name", "../x"});
  spec.split = "train";
  spec.kind = "cifar100";
  expect_error([&] { ltcl::data::open_dataset(spec); }, {tmp.path().string()});
}

TEST(DataOpen, MakeLongTailed) {
  ltcl::test::TempDir tmp;
  make_folder(tmp.path(), {40, 40, 40, 40});
  DatasetSpec spec;
  spec.kind = "folder";
  spec.root = tmp.path().string();
  auto base = ltcl::data::open_dataset(spec);
  // Factor 1: the base itself, untouched.
  EXPECT_EQ(ltcl::data::make_long_tailed(base, {}), base);
  LongTailSpec lt;
  lt.imbalance_factor = 8;
  auto exp = ltcl::data::make_long_tailed(base, lt);
  // 40 * (1/8)^(c/3) = 40, 20, 10, 5.
  EXPECT_EQ(exp->class_counts(), (std::vector<int64_t>{40, 20, 10, 5}));
  lt.profile = "step";
  EXPECT_EQ(
      ltcl::data::make_long_tailed(base, lt)->class_counts(),
      (std::vector<int64_t>{40, 40, 5, 5}));
  lt.n_max = 16;
  lt.profile = "exp";
  EXPECT_EQ(
      ltcl::data::make_long_tailed(base, lt)->class_counts(),
      (std::vector<int64_t>{16, 8, 4, 2}));
  lt.imbalance_factor = 0.5;
  EXPECT_THROW(ltcl::data::make_long_tailed(base, lt), ltcl::Error);
  lt.imbalance_factor = 10;
  lt.profile = "linear";
  expect_error([&] { ltcl::data::make_long_tailed(base, lt); }, {"linear"});
}

// --- the CLI ----------------------------------------------------------------

std::string cli() {
  return ltcl::test::cli_path();
}

// Runs the program with stdout only (run_command appends 2>&1, so stderr is
// silenced inside a subshell).
int run_stdout(const std::string& command, std::string* out) {
  return ltcl::test::run_command("(" + command + " 2>/dev/null)", out);
}

TEST(DataStatsCli, JsonOnSyntheticFolder) {
  ltcl::test::TempDir tmp;
  make_folder(tmp.path(), {30, 30, 30});
  // One run (each start of the program loads LibTorch: keep runs few).
  std::string out;
  const int rc = run_stdout(
      cli() + " data stats --dataset folder --root " + tmp.path().string() +
          " --imbalance-factor 10 --seed 3 --json --list",
      &out);
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["num_classes"], 3);
  EXPECT_EQ(j["class_names"], (std::vector<std::string>{"c0", "c1", "c2"}));
  // 30 * 0.1^(c/2) = 30, 9.48 -> 9, 3.
  EXPECT_EQ(j["class_counts"], (std::vector<int64_t>{30, 9, 3}));
  EXPECT_EQ(j["size"], 42);
  EXPECT_EQ(j["base_size"], 90);
  EXPECT_EQ(j["seed"], 3);
  EXPECT_EQ(j["shot_groups"]["many"], 0);
  EXPECT_EQ(j["shot_groups"]["medium"], 1);
  EXPECT_EQ(j["shot_groups"]["few"], 2);

  // The listed samples: the selected files in selection order, as
  // select_long_tail gives them.
  const auto lines = j["samples"].get<std::vector<std::string>>();
  std::vector<int64_t> labels;
  for (int k = 0; k < 3; ++k) {
    labels.insert(labels.end(), 30, k);
  }
  const auto picks = ltcl::data::select_long_tail(labels, 3, {30, 9, 3}, 3);
  ASSERT_EQ(lines.size(), picks.size());
  for (size_t i = 0; i < picks.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "%04zu.png", picks[i] % 30);
    const auto want =
        (tmp / ("c" + std::to_string(picks[i] / 30)) / name).string();
    EXPECT_EQ(lines[i], want) << i;
  }
}

TEST(DataStatsCli, PlainListOnePathALine) {
  ltcl::test::TempDir tmp;
  make_folder(tmp.path(), {3, 2});
  std::string out;
  ASSERT_EQ(
      run_stdout(
          cli() + " data stats --dataset folder --root " + tmp.path().string() +
              " --list",
          &out),
      0);
  // Factor 1: the whole dataset in its own order.
  std::string want;
  for (const char* f :
       {"c0/0000.png",
        "c0/0001.png",
        "c0/0002.png",
        "c1/0000.png",
        "c1/0001.png"}) {
    want += (tmp / f).string() + "\n";
  }
  EXPECT_EQ(out, want);
}

TEST(DataStatsCli, Cifar10LtSizesFromSharedJpegs) {
  const auto root = ltcl::test::shared_dataset("cifar10-jpeg/train");
  if (root.empty()) {
    GTEST_SKIP() << "shared CIFAR-10 JPEGs absent";
  }
  // IF 100 only: the library test (long_tail.cpp) covers 50 and 10, and
  // each program start costs seconds.
  const std::pair<const char*, int> expected[] = {{"100", 12406}};
  for (const auto& [factor, size] : expected) {
    std::string out;
    ASSERT_EQ(
        run_stdout(
            cli() + " data stats --dataset folder --root " + root.string() +
                " --imbalance-factor " + factor + " --json",
            &out),
        0)
        << out;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["size"], size) << factor;
    EXPECT_EQ(j["class_counts"][0], 5000);
  }
}

TEST(DataStatsCli, ErrorsExitNonZeroNamingTheFile) {
  ltcl::test::TempDir tmp;
  std::string out;
  int rc = ltcl::test::run_command(
      cli() + " data stats --dataset cifar10 --root " +
          (tmp / "missing").string(),
      &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("ltcl: error: "), std::string::npos) << out;
  EXPECT_NE(out.find((tmp / "missing").string()), std::string::npos) << out;

  // A CIFAR batch that is not a whole number of records.
  const fs::path bin = tmp / "cifar-10-batches-bin";
  fs::create_directories(bin);
  for (const char* f :
       {"data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin"}) {
    std::ofstream(bin / f, std::ios::binary) << std::string(3073, '\x01');
  }
  std::ofstream(bin / "data_batch_3.bin", std::ios::binary)
      << std::string(3000, '\x01');
  rc = ltcl::test::run_command(
      cli() + " data stats --dataset cifar10 --root " + tmp.path().string(),
      &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("ltcl: error: "), std::string::npos) << out;
  EXPECT_NE(out.find("data_batch_3.bin"), std::string::npos) << out;

  // A list-file line with no label.
  std::ofstream(tmp / "train.txt") << "a.png 0\nb.png\n";
  rc = ltcl::test::run_command(
      cli() + " data stats --dataset list --root " + tmp.path().string(), &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("train.txt:2"), std::string::npos) << out;
}

}  // namespace
