#include "ltcl/data/long_tail.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "ltcl/data/folder.h"
#include "ltcl/data/shot_groups.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::data::long_tail_counts;
using ltcl::data::NumpyRandomState;
using ltcl::data::select_long_tail;

// Runs a Python script with Debian's python3 (numpy); returns false (and the
// caller skips) when that interpreter or numpy is missing.
bool run_numpy(
    const ltcl::test::TempDir& dir,
    const std::string& script,
    const std::string& args,
    std::string* out) {
  if (!std::filesystem::exists("/usr/bin/python3")) {
    return false;
  }
  const std::string path = dir / "script.py";
  {
    std::ofstream f(path);
    f << "import sys\ntry:\n    import numpy as np\nexcept ImportError:\n"
         "    sys.exit(77)\n"
      << script;
  }
  std::string cmd = "/usr/bin/python3 " + path + " " + args;
  // Only stdout: run_command appends 2>&1, so silence stderr in a subshell.
  const int rc = ltcl::test::run_command("(" + cmd + " 2>/dev/null)", out);
  if (rc == 77) {
    return false;
  }
  EXPECT_EQ(rc, 0) << *out;
  return rc == 0;
}

std::vector<std::vector<std::string>> split_lines(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> words;
    std::string w;
    while (ls >> w) {
      words.push_back(w);
    }
    if (!words.empty()) {
      lines.push_back(words);
    }
  }
  return lines;
}

TEST(DataLongTail, MatchesNumpyRawStreamShuffleAndInterval) {
  ltcl::test::TempDir dir;
  const std::string script = R"PY(
for seed in (0, 1, 12345, 4294967295):
    rs = np.random.RandomState(seed)
    print('raw', seed, *rs.randint(0, 2**32, size=6, dtype=np.uint64))
for n, seed in ((0, 0), (1, 0), (2, 0), (10, 0), (1000, 3), (5000, 0),
                (70001, 7)):
    np.random.seed(seed)
    idx = np.arange(n)
    np.random.shuffle(idx)
    print('shuffle', n, seed, *idx)
rs = np.random.RandomState(5)
for m in (2**33 + 17, 2**40 - 1, 2**63 + 5, 6, 2**32 - 1):
    print('interval', m, rs.randint(0, m + 1, dtype=np.uint64))
)PY";
  std::string out;
  if (!run_numpy(dir, script, "", &out)) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  }
  const auto lines = split_lines(out);
  ASSERT_EQ(lines.size(), 4u + 7u + 5u) << out;
  NumpyRandomState interval_rng(5);
  for (const auto& w : lines) {
    if (w[0] == "raw") {
      NumpyRandomState rng(static_cast<uint32_t>(std::stoull(w[1])));
      for (size_t k = 2; k < w.size(); ++k) {
        EXPECT_EQ(rng.next_uint32(), std::stoull(w[k])) << "seed " << w[1];
      }
    } else if (w[0] == "shuffle") {
      const size_t n = std::stoull(w[1]);
      NumpyRandomState rng(static_cast<uint32_t>(std::stoull(w[2])));
      std::vector<int64_t> idx(n);
      std::iota(idx.begin(), idx.end(), 0);
      rng.shuffle(idx);
      ASSERT_EQ(w.size(), n + 3);
      size_t mismatches = 0;
      for (size_t k = 0; k < n; ++k) {
        mismatches += idx[k] != std::stoll(w[k + 3]);
      }
      EXPECT_EQ(mismatches, 0u) << "n " << n << " seed " << w[2];
    } else {
      ASSERT_EQ(w[0], "interval");
      const uint64_t m = std::stoull(w[1]);
      EXPECT_EQ(interval_rng.random_interval(m), std::stoull(w[2]))
          << "max " << m;
    }
  }
}

TEST(DataLongTail, SelectionMatchesNumpyReference) {
  // A synthetic label sequence with interleaved classes of unequal sizes; the
  // Python side runs the reference code (LDAM-DRW's gen_imbalanced_data).
  const int64_t classes = 7;
  std::vector<int64_t> labels;
  NumpyRandomState gen(99);
  for (int i = 0; i < 3000; ++i) {
    labels.push_back(static_cast<int64_t>(gen.random_interval(classes - 1)));
  }
  ltcl::test::TempDir dir;
  {
    std::ofstream f(dir / "labels.txt");
    for (auto y : labels) {
      f << y << "\n";
    }
  }
  const std::string script = R"PY(
targets = np.loadtxt(sys.argv[1], dtype=np.int64)
cls_num = int(sys.argv[2])
for imb_type in ('exp', 'step'):
    for imb_factor in (0.01, 0.02, 0.1, 1.0 / 3):
        for seed in (0, 1, 2024):
            np.random.seed(seed)
            img_max = len(targets) / cls_num
            nums = []
            if imb_type == 'exp':
                for c in range(cls_num):
                    nums.append(int(img_max * (imb_factor ** (c / (cls_num - 1.0)))))
            else:
                nums = [int(img_max)] * (cls_num // 2)
                nums += [int(img_max * imb_factor)] * (cls_num - cls_num // 2)
            sel = []
            for c, n in zip(range(cls_num), nums):
                idx = np.where(targets == c)[0]
                np.random.shuffle(idx)
                sel.extend(idx[:n])
            print(imb_type, round(1 / imb_factor), seed, *nums, '|', *sel)
)PY";
  std::string out;
  if (!run_numpy(
          dir,
          script,
          (dir / "labels.txt").string() + " " + std::to_string(classes),
          &out)) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  }
  const auto lines = split_lines(out);
  ASSERT_EQ(lines.size(), 2u * 4u * 3u) << out;
  for (const auto& w : lines) {
    const std::string profile = w[0];
    const double inv = std::stod(w[1]);
    // The Python side used the literals 0.01, 0.02, 0.1 and 1/3.
    const double factor = inv == 3 ? 3.0 : inv;
    const uint32_t seed = static_cast<uint32_t>(std::stoul(w[2]));
    const auto counts = long_tail_counts(
        classes, double(labels.size()) / classes, factor, profile);
    for (int64_t c = 0; c < classes; ++c) {
      EXPECT_EQ(counts[c], std::stoll(w[3 + c]))
          << profile << " IF " << factor << " class " << c;
    }
    ASSERT_EQ(w[3 + classes], "|");
    const auto sel = select_long_tail(labels, classes, counts, seed);
    ASSERT_EQ(sel.size(), w.size() - 4 - classes)
        << profile << " IF " << factor << " seed " << seed;
    size_t mismatches = 0;
    for (size_t k = 0; k < sel.size(); ++k) {
      mismatches += sel[k] != std::stoull(w[4 + classes + k]);
    }
    EXPECT_EQ(mismatches, 0u)
        << profile << " IF " << factor << " seed " << seed;
  }
}

TEST(DataLongTail, CountsByHand) {
  // CIFAR-10 IF 100: 5000 * 0.01^(c/9), truncated.
  EXPECT_EQ(
      long_tail_counts(10, 5000, 100),
      (std::vector<int64_t>{
          5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50}));
  EXPECT_EQ(
      long_tail_counts(4, 100, 10, "step"),
      (std::vector<int64_t>{100, 100, 10, 10}));
  EXPECT_EQ(
      long_tail_counts(5, 100, 10, "step"),
      (std::vector<int64_t>{100, 100, 10, 10, 10}));
  EXPECT_EQ(long_tail_counts(3, 40, 1), (std::vector<int64_t>{40, 40, 40}));
  EXPECT_THROW(long_tail_counts(3, 40, 0.5), ltcl::Error);
  EXPECT_THROW(long_tail_counts(0, 40, 10), ltcl::Error);
  ltcl::test::expect_error(
      [] { long_tail_counts(3, 40, 10, "linear"); }, {"linear"});
}

int64_t total(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t(0));
}

TEST(DataLongTail, Cifar100LtSizesAndShotGroups) {
  // A synthetic CIFAR-100 train label set: 100 classes x 500, interleaved.
  std::vector<int64_t> labels;
  for (int i = 0; i < 500; ++i) {
    for (int c = 0; c < 100; ++c) {
      labels.push_back((c * 37 + i) % 100);
    }
  }
  const std::pair<double, size_t> expected[] = {
      {100, 10847}, {50, 12608}, {10, 19573}};
  for (const auto& [factor, size] : expected) {
    const auto counts =
        long_tail_counts(100, double(labels.size()) / 100, factor);
    EXPECT_EQ(total(counts), static_cast<int64_t>(size)) << factor;
    const auto sel = select_long_tail(labels, 100, counts, 0);
    EXPECT_EQ(sel.size(), size);
    // The picks of class c are all of class c, in class-by-class order.
    std::vector<int64_t> got(100, 0);
    int64_t prev = 0;
    for (size_t k : sel) {
      EXPECT_GE(labels[k], prev);
      prev = labels[k];
      ++got[labels[k]];
    }
    EXPECT_EQ(got, counts);
  }
  const auto groups = ltcl::data::shot_groups(long_tail_counts(100, 500, 100));
  EXPECT_EQ(groups.many, 35);
  EXPECT_EQ(groups.medium, 35);
  EXPECT_EQ(groups.few, 30);
}

TEST(DataLongTail, Cifar10LtFromSharedJpegFolder) {
  const auto root = ltcl::test::shared_dataset("cifar10-jpeg/train");
  if (root.empty()) {
    GTEST_SKIP() << "shared CIFAR-10 JPEGs absent";
  }
  auto base = std::make_shared<ltcl::data::FolderDataset>(root.string());
  ASSERT_EQ(base->size(), 50000u);
  EXPECT_EQ(
      base->class_names(),
      (std::vector<std::string>{
          "airplane",
          "automobile",
          "bird",
          "cat",
          "deer",
          "dog",
          "frog",
          "horse",
          "ship",
          "truck"}));
  const std::pair<double, size_t> expected[] = {
      {100, 12406}, {50, 13996}, {10, 20431}};
  for (const auto& [factor, size] : expected) {
    ltcl::data::LongTailOptions opt;
    opt.imbalance_factor = factor;
    const auto lt = ltcl::data::long_tail_subset(base, opt);
    EXPECT_EQ(lt->size(), size) << factor;
    const auto counts = lt->class_counts();
    EXPECT_EQ(counts, long_tail_counts(10, 5000, factor));
  }
}

TEST(DataShotGroups, ThresholdsAndMembership) {
  const std::vector<int64_t> counts = {500, 101, 100, 20, 19, 0};
  const auto g = ltcl::data::shot_groups(counts);
  EXPECT_EQ(g.many, 2);
  EXPECT_EQ(g.medium, 2);
  EXPECT_EQ(g.few, 2);
  EXPECT_EQ(
      g.classes(ltcl::data::ShotGroup::kMedium), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(
      g.classes(ltcl::data::ShotGroup::kFew), (std::vector<int64_t>{4, 5}));
  const auto h = ltcl::data::shot_groups(counts, {19, 1});
  EXPECT_EQ(h.many, 4);  // 500, 101, 100, 20 > 19
  EXPECT_EQ(h.medium, 1);
  EXPECT_EQ(h.few, 1);
  EXPECT_STREQ(ltcl::data::shot_group_name(ltcl::data::ShotGroup::kFew), "few");
  EXPECT_THROW(ltcl::data::shot_groups(counts, {10, 50}), ltcl::Error);
  EXPECT_THROW(ltcl::data::shot_groups({-1}), ltcl::Error);
}

}  // namespace
