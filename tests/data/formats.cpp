// IDX files, image folders, list files and the decoded-image cache.
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ltcl/data/cached.h"
#include "ltcl/data/folder.h"
#include "ltcl/data/idx.h"
#include "ltcl/data/image_io.h"
#include "ltcl/data/list_file.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::data::Image;

using ltcl::test::expect_error;

void write_bytes(const fs::path& path, const std::string& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), bytes.size());
  }
}

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) {
    s[k] = static_cast<char>((v >> (24 - 8 * k)) & 0xFF);
  }
  return s;
}

// n images of 3x4 pixels (pixel p of image i = i * 12 + p) and labels i % 10.
void write_idx(
    const fs::path& dir, const std::string& prefix, uint32_t n, bool gz) {
  fs::create_directories(dir);
  std::string img = be32(0x803) + be32(n) + be32(3) + be32(4);
  std::string lab = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) {
    for (int p = 0; p < 12; ++p) {
      img.push_back(static_cast<char>(i * 12 + p));
    }
    lab.push_back(static_cast<char>(i % 10));
  }
  const std::string ext = gz ? ".gz" : "";
  write_bytes(dir / (prefix + "-images-idx3-ubyte" + ext), img, gz);
  write_bytes(dir / (prefix + "-labels-idx1-ubyte" + ext), lab, gz);
}

TEST(DataIdx, PlainAndGzippedReadTheSame) {
  ltcl::test::TempDir tmp;
  for (bool gz : {false, true}) {
    const fs::path dir = tmp / (gz ? "gz" : "plain");
    write_idx(dir, "train", 13, gz);
    write_idx(dir, "t10k", 4, gz);
    auto ds = ltcl::data::open_idx(dir.string(), {});
    ASSERT_EQ(ds->size(), 13u);
    EXPECT_EQ(ds->class_names()[7], "7");
    EXPECT_EQ(ds->label(12), 2);
    const auto e = ds->get(5);
    ASSERT_EQ(e.image.height, 3);
    ASSERT_EQ(e.image.width, 4);
    ASSERT_EQ(e.image.channels, 1);
    EXPECT_EQ(e.image.at(2, 3, 0), 5 * 12 + 11);
    EXPECT_EQ(e.label, 5);
    ltcl::data::IdxOptions test;
    test.split = "test";
    EXPECT_EQ(ltcl::data::open_idx(dir.string(), test)->size(), 4u);
  }
}

TEST(DataIdx, FashionNamesByFolderOrOption) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "Fashion-MNIST";
  write_idx(dir, "train", 3, true);
  auto ds = ltcl::data::open_idx(dir.string(), {});
  EXPECT_EQ(ds->class_names()[0], "T-shirt/top");
  EXPECT_EQ(ds->class_names()[9], "Ankle boot");
  ltcl::data::IdxOptions digits;
  digits.names = "digits";
  EXPECT_EQ(ltcl::data::open_idx(dir.string(), digits)->class_names()[0], "0");
  digits.names = "greek";
  expect_error([&] { ltcl::data::open_idx(dir.string(), digits); }, {"greek"});
}

TEST(DataIdx, BadMagicCountAndLabelThrow) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp.path();
  const auto images = (dir / "train-images-idx3-ubyte").string();
  const auto labels = (dir / "train-labels-idx1-ubyte").string();
  // Bad magic (labels magic in the images file).
  write_idx(dir, "train", 4, false);
  {
    std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('\x01');
  }
  expect_error(
      [&] { ltcl::data::open_idx(dir.string(), {}); },
      {"bad magic in " + images});
  // Count disagrees with size: header says 5 images, data holds 4.
  write_idx(dir, "train", 4, false);
  {
    std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(7);
    f.put('\x05');
  }
  expect_error(
      [&] { ltcl::data::open_idx(dir.string(), {}); },
      {"count disagrees with file size in " + images});
  // Gzipped labels whose count is larger than the data.
  write_idx(dir, "train", 4, false);
  fs::remove(labels);
  write_bytes(labels + ".gz", be32(0x801) + be32(9) + "abcd", true);
  expect_error(
      [&] { ltcl::data::open_idx(dir.string(), {}); }, {labels + ".gz"});
  // Label 10 with ten classes.
  fs::remove(labels + ".gz");
  write_bytes(
      labels, be32(0x801) + be32(4) + std::string("\x01\x02\x0a\x03"), false);
  expect_error(
      [&] { ltcl::data::open_idx(dir.string(), {}); }, {labels + " item 2"});
  // Missing test files.
  ltcl::data::IdxOptions test;
  test.split = "test";
  expect_error(
      [&] { ltcl::data::open_idx(dir.string(), test); }, {"t10k-images-idx3"});
  // A corrupt gzip stream.
  write_idx(dir, "train", 4, false);
  fs::remove(labels);
  write_bytes(labels + ".gz", "\x1f\x8b\x08\x00garbage-not-deflate", false);
  expect_error(
      [&] { ltcl::data::open_idx(dir.string(), {}); }, {labels + ".gz"});
}

TEST(DataIdx, RealMnistCounts) {
  const auto dir = ltcl::test::shared_dataset("mnist");
  if (dir.empty()) {
    GTEST_SKIP() << "shared MNIST absent";
  }
  auto ds = ltcl::data::open_idx(dir.string(), {});
  ASSERT_EQ(ds->size(), 60000u);
  // The published MNIST training counts per digit.
  EXPECT_EQ(
      ds->class_counts(),
      (std::vector<int64_t>{
          5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));
  EXPECT_EQ(ds->get(0).label, 5);  // the first training digit is a 5
}

TEST(DataIdx, RealFashionMnist) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir / "t10k-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  ltcl::data::IdxOptions test;
  test.split = "test";
  auto ds = ltcl::data::open_idx(dir.string(), test);
  EXPECT_EQ(ds->size(), 10000u);
  EXPECT_EQ(ds->class_counts(), std::vector<int64_t>(10, 1000));
  EXPECT_EQ(ds->class_names()[9], "Ankle boot");
}

// --- folders ----------------------------------------------------------------

Image solid(int value, int channels = 3) {
  Image img(4, 5, channels);
  for (auto& p : img.pixels) {
    p = static_cast<uint8_t>(value);
  }
  return img;
}

TEST(DataFolder, SortedClassesAndFilesLabelsWithoutDecoding) {
  ltcl::test::TempDir tmp;
  fs::create_directories(tmp / "b_dogs");
  fs::create_directories(tmp / "a_cats");
  fs::create_directories(tmp / ".hidden");
  ltcl::data::write_png(tmp / "a_cats" / "2.png", solid(20));
  ltcl::data::write_png(tmp / "a_cats" / "10.png", solid(100));
  const auto jpg = ltcl::data::encode_jpeg(solid(60, 1), 100);
  std::ofstream(tmp / "a_cats" / "1.JPG", std::ios::binary)
      .write(reinterpret_cast<const char*>(jpg.data()), jpg.size());
  ltcl::data::write_png(tmp / "b_dogs" / "x.png", solid(7));
  std::ofstream(tmp / "b_dogs" / "notes.txt") << "not an image";
  ltcl::data::FolderDataset ds(tmp.path().string());
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"a_cats", "b_dogs"}));
  ASSERT_EQ(ds.size(), 4u);
  // Byte order: "1.JPG" < "10.png" < "2.png".
  EXPECT_EQ(ds.describe(0), (tmp / "a_cats" / "1.JPG").string());
  EXPECT_EQ(ds.describe(1), (tmp / "a_cats" / "10.png").string());
  EXPECT_EQ(ds.describe(2), (tmp / "a_cats" / "2.png").string());
  EXPECT_EQ(ds.labels(), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(ds.get(1).image.pixels, solid(100).pixels);
  EXPECT_EQ(ds.get(3).label, 1);
  const auto gray = ds.get(0).image;
  EXPECT_EQ(gray.channels, 1);
  EXPECT_NEAR(gray.pixels[0], 60, 1);
}

TEST(DataFolder, BadFoldersAndCorruptImagesThrow) {
  ltcl::test::TempDir tmp;
  expect_error(
      [&] { ltcl::data::FolderDataset((tmp / "nope").string()); }, {"nope"});
  expect_error(
      [&] { ltcl::data::FolderDataset(tmp.path().string()); },
      {"no class folders"});
  fs::create_directories(tmp / "empty_class");
  expect_error(
      [&] { ltcl::data::FolderDataset(tmp.path().string()); }, {"empty_class"});
  ltcl::data::write_png(tmp / "empty_class" / "a.png", solid(1));
  std::ofstream(tmp / "empty_class" / "b.png") << "garbage";
  ltcl::data::FolderDataset ds(tmp.path().string());
  EXPECT_NO_THROW(ds.get(0));
  expect_error([&] { ds.get(1); }, {(tmp / "empty_class" / "b.png").string()});
}

// --- list files -------------------------------------------------------------

TEST(DataListFile, ParsesPathsLabelsAndNames) {
  ltcl::test::TempDir tmp;
  fs::create_directories(tmp / "img" / "a b");
  ltcl::data::write_png(tmp / "img" / "a b" / "x.png", solid(11));
  ltcl::data::write_png(tmp / "img" / "y.png", solid(22));
  std::ofstream(tmp / "list.txt") << "a b/x.png 2\n\n  y.png\t0  \r\ny.png 2\n";
  ltcl::data::ListFileDataset ds(
      (tmp / "img").string(), (tmp / "list.txt").string());
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(ds.labels(), (std::vector<int64_t>{2, 0, 2}));
  EXPECT_EQ(ds.describe(0), (tmp / "img" / "a b" / "x.png").string());
  EXPECT_EQ(ds.origin(1), (tmp / "list.txt").string() + ":3");
  EXPECT_EQ(ds.get(0).image.pixels, solid(11).pixels);
  EXPECT_EQ(ds.class_counts(), (std::vector<int64_t>{1, 0, 2}));
  std::ofstream(tmp / "names.txt") << "zero\none\ntwo\nthree\n";
  ltcl::data::ListFileOptions opt;
  opt.names_file = (tmp / "names.txt").string();
  ltcl::data::ListFileDataset named(
      (tmp / "img").string(), (tmp / "list.txt").string(), opt);
  EXPECT_EQ(named.num_classes(), 4);
  EXPECT_EQ(named.class_names()[2], "two");
}

TEST(DataListFile, BadLinesThrowNamingFileAndLine) {
  ltcl::test::TempDir tmp;
  ltcl::data::write_png(tmp / "ok.png", solid(1));
  const std::string root = tmp.path().string();
  const std::string list = (tmp / "list.txt").string();
  auto open = [&](const std::string& text,
                  const ltcl::data::ListFileOptions& opt = {}) {
    std::ofstream(list) << text;
    return ltcl::data::ListFileDataset(root, list, opt);
  };
  expect_error([&] { open("ok.png 0\nok.png\n"); }, {list + ":2"});
  expect_error(
      [&] { open("ok.png 0\n   lonely.png  \n"); }, {"has no label: " + list});
  expect_error([&] { open("ok.png 0\n\nok.png -1\n"); }, {list + ":3"});
  expect_error([&] { open("ok.png 1.5\n"); }, {"1.5"});
  expect_error([&] { open("\n\n"); }, {"no samples"});
  // Label out of range of the names file.
  std::ofstream(tmp / "names.txt") << "a\nb\n";
  ltcl::data::ListFileOptions named;
  named.names_file = (tmp / "names.txt").string();
  expect_error([&] { open("ok.png 1\nok.png 2\n", named); }, {list + ":2"});
  // A missing image: at open, or at get when checks are off.
  expect_error(
      [&] { open("ok.png 0\nsub/missing.png 1\n"); },
      {"missing.png listed at " + list + ":2"});
  ltcl::data::ListFileOptions lazy;
  lazy.check_files = false;
  auto ds = open("ok.png 0\nsub/missing.png 1\n", lazy);
  EXPECT_NO_THROW(ds.get(0));
  expect_error([&] { ds.get(1); }, {list + ":2"});
  // Missing list file / root.
  expect_error(
      [&] { ltcl::data::ListFileDataset(root, (tmp / "nope.txt").string()); },
      {"nope.txt"});
  expect_error(
      [&] { ltcl::data::ListFileDataset((tmp / "noroot").string(), list); },
      {"noroot"});
}

// --- cache ------------------------------------------------------------------

// Sample i is a 2x2x1 image of value i; counts its decodes.
class CountingDataset : public ltcl::data::Dataset {
 public:
  explicit CountingDataset(size_t n) : n_(n), names_{"only"} {}
  size_t size() const override {
    return n_;
  }
  ltcl::data::Example get(size_t i) const override {
    ++decodes;
    ltcl::data::Example e{Image(2, 2, 1), 0};
    for (auto& p : e.image.pixels) {
      p = static_cast<uint8_t>(i);
    }
    return e;
  }
  int64_t label(size_t) const override {
    return 0;
  }
  const std::vector<std::string>& class_names() const override {
    return names_;
  }
  std::string describe(size_t i) const override {
    return "count#" + std::to_string(i);
  }
  mutable std::atomic<int> decodes{0};

 private:
  size_t n_;
  std::vector<std::string> names_;
};

TEST(DataCached, DecodesOnceAndRespectsByteCap) {
  auto base = std::make_shared<CountingDataset>(10);
  ltcl::data::CachedDataset cache(base);
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < 10; ++i) {
      EXPECT_EQ(cache.get(i).image.pixels[3], i);
    }
  }
  EXPECT_EQ(base->decodes.load(), 10);
  EXPECT_EQ(cache.cached_count(), 10u);
  EXPECT_EQ(cache.cached_bytes(), 40u);

  auto base2 = std::make_shared<CountingDataset>(10);
  ltcl::data::CachedDataset capped(base2, 12);  // room for 3 images
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < 10; ++i) {
      EXPECT_EQ(capped.get(i).image.pixels[0], i);
    }
  }
  EXPECT_EQ(capped.cached_count(), 3u);
  EXPECT_EQ(base2->decodes.load(), 10 + 7);
  EXPECT_THROW(capped.get(10), ltcl::Error);
}

TEST(DataCached, ConcurrentGetsAgree) {
  auto base = std::make_shared<CountingDataset>(200);
  ltcl::data::CachedDataset cache(base);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 5; ++r) {
        for (size_t i = 0; i < 200; ++i) {
          const size_t k = (i * 7 + t * 13) % 200;
          if (cache.get(k).image.pixels[1] != k) {
            ++wrong;
          }
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.cached_count(), 200u);
  // Races may decode a sample twice, never more than once per thread.
  EXPECT_LE(base->decodes.load(), 200 * 8);
  EXPECT_GE(base->decodes.load(), 200);
}

}  // namespace
