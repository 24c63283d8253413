#include "ltcl/data/image_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::data::decode_image;
using ltcl::data::Image;
using ltcl::data::ImageFormat;
using ltcl::data::read_image;
using ltcl::data::write_png;

// A deterministic image whose pixel (y, x, c) = (y * 7 + x * 13 + c * 101).
Image pattern(int h, int w, int c) {
  Image img(h, w, c);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int k = 0; k < c; ++k) {
        img.at(y, x, k) = static_cast<uint8_t>(y * 7 + x * 13 + k * 101);
      }
    }
  }
  return img;
}

// Expects `fn` to throw ltcl::Error whose message contains `needle`.
using ltcl::test::expect_error;

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(DataImageIo, PngRoundTripRgbAndGray) {
  ltcl::test::TempDir dir;
  for (int c : {1, 3}) {
    const Image img = pattern(17, 23, c);
    const std::string path = (dir / ("p" + std::to_string(c) + ".png"));
    write_png(path, img);
    const Image back = read_image(path);
    EXPECT_EQ(back.height, 17);
    EXPECT_EQ(back.width, 23);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, img.pixels);
  }
  // No temporary file is left behind by the atomic write.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 2);
}

TEST(DataImageIo, WritePngReplacesExistingFile) {
  ltcl::test::TempDir dir;
  const std::string path = dir / "x.png";
  write_png(path, pattern(4, 4, 3));
  write_png(path, pattern(2, 5, 1));
  const Image back = read_image(path);
  EXPECT_EQ(back.height, 2);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.pixels, pattern(2, 5, 1).pixels);
}

TEST(DataImageIo, SniffsMagicBytes) {
  const auto png = ltcl::data::encode_png(pattern(2, 2, 3));
  const auto jpg = ltcl::data::encode_jpeg(pattern(8, 8, 3));
  EXPECT_EQ(
      ltcl::data::sniff_image_format(png.data(), png.size()),
      ImageFormat::kPng);
  EXPECT_EQ(
      ltcl::data::sniff_image_format(jpg.data(), jpg.size()),
      ImageFormat::kJpeg);
  const uint8_t junk[4] = {'G', 'I', 'F', '8'};
  EXPECT_EQ(ltcl::data::sniff_image_format(junk, 4), ImageFormat::kUnknown);
}

TEST(DataImageIo, JpegDecodesKnownPixels) {
  // Flat colour blocks survive JPEG (quality 100) nearly exactly: 16x16
  // MCU-aligned constant blocks have only a DC coefficient. Only the pixels
  // within 2 of a block edge see the neighbour through the decoder's
  // smoothing chroma upsampler, so those are left out.
  Image img(32, 32, 3);
  const uint8_t colours[4][3] = {
      {200, 30, 40}, {10, 220, 60}, {50, 70, 230}, {128, 128, 128}};
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const int q = (y / 16) * 2 + (x / 16);
      for (int c = 0; c < 3; ++c) {
        img.at(y, x, c) = colours[q][c];
      }
    }
  }
  const auto jpg = ltcl::data::encode_jpeg(img, 100);
  const Image back = decode_image(jpg.data(), jpg.size(), "mem.jpg");
  ASSERT_EQ(back.height, 32);
  ASSERT_EQ(back.width, 32);
  ASSERT_EQ(back.channels, 3);
  int worst = 0;
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const int q = (y / 16) * 2 + (x / 16);
      if (std::abs(y - 16) <= 2 || std::abs(x - 16) <= 2) {
        continue;
      }
      for (int c = 0; c < 3; ++c) {
        worst = std::max(worst, std::abs(back.at(y, x, c) - colours[q][c]));
      }
    }
  }
  // YCbCr rounding only.
  EXPECT_LE(worst, 3);
}

TEST(DataImageIo, JpegGrayscaleStaysOneChannel) {
  const Image img = pattern(16, 24, 1);
  const auto jpg = ltcl::data::encode_jpeg(img, 100);
  const Image back = decode_image(jpg.data(), jpg.size(), "gray.jpg");
  EXPECT_EQ(back.channels, 1);
  EXPECT_EQ(back.height, 16);
  EXPECT_EQ(back.width, 24);
  // A smooth-ish pattern at quality 100: mean error small.
  double err = 0;
  for (size_t i = 0; i < img.size(); ++i) {
    err += std::abs(int(back.pixels[i]) - int(img.pixels[i]));
  }
  EXPECT_LT(err / img.size(), 4.0);
}

TEST(DataImageIo, SharedCifarJpegMatchesDimensions) {
  const auto root = ltcl::test::shared_dataset("cifar10-jpeg/train/airplane");
  if (root.empty()) {
    GTEST_SKIP() << "shared CIFAR-10 JPEGs absent";
  }
  const Image img = read_image(root / "0000.jpg");
  EXPECT_EQ(img.height, 32);
  EXPECT_EQ(img.width, 32);
  EXPECT_EQ(img.channels, 3);
}

TEST(DataImageIo, TruncatedJpegThrowsNamingFile) {
  const auto jpg = ltcl::data::encode_jpeg(pattern(64, 64, 3), 90);
  for (size_t keep : {size_t(3), size_t(40), jpg.size() / 2, jpg.size() - 3}) {
    expect_error(
        [&] { decode_image(jpg.data(), keep, "cut.jpg"); }, {"cut.jpg"});
  }
}

TEST(DataImageIo, CorruptJpegThrows) {
  auto jpg = ltcl::data::encode_jpeg(pattern(64, 64, 3), 90);
  // Overwrite the middle of the entropy-coded data with a restart-less
  // marker run: libjpeg reports corrupt data.
  for (size_t i = jpg.size() / 2; i < jpg.size() / 2 + 64; ++i) {
    jpg[i] = 0xFF;
  }
  expect_error(
      [&] { decode_image(jpg.data(), jpg.size(), "bad.jpg"); }, {"bad.jpg"});
  // A header that is all garbage after the SOI marker.
  std::vector<uint8_t> garbage = {0xFF, 0xD8, 0xFF, 0x00, 0x13, 0x37};
  expect_error(
      [&] { decode_image(garbage.data(), garbage.size(), "g.jpg"); },
      {"g.jpg"});
}

TEST(DataImageIo, CorruptPngThrowsNamingFile) {
  auto png = ltcl::data::encode_png(pattern(32, 32, 3));
  // Truncated.
  for (size_t keep : {size_t(8), size_t(30), png.size() / 2, png.size() - 13}) {
    expect_error(
        [&] { decode_image(png.data(), keep, "cut.png"); }, {"cut.png"});
  }
  // Flipped bits in the IDAT payload break its CRC.
  auto bad = png;
  bad[bad.size() / 2] ^= 0x5A;
  expect_error(
      [&] { decode_image(bad.data(), bad.size(), "crc.png"); }, {"crc.png"});
}

TEST(DataImageIo, UnknownFormatAndMissingFileThrow) {
  const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  expect_error(
      [&] { decode_image(text.data(), text.size(), "note.txt"); },
      {"note.txt"});
  expect_error([&] { decode_image(nullptr, 0, "empty.png"); }, {"empty.png"});
  ltcl::test::TempDir dir;
  const std::string missing = dir / "nope.png";
  expect_error([&] { read_image(missing); }, {"nope.png"});
  // A corrupt file on disk: the error names its path.
  const std::string corrupt = dir / "corrupt.jpg";
  write_bytes(corrupt, {0xFF, 0xD8, 0xFF, 0xE0, 0x00});
  expect_error([&] { read_image(corrupt); }, {corrupt});
}

TEST(DataImageIo, ConcurrentDecodesAgree) {
  const Image img = pattern(40, 40, 3);
  const auto png = ltcl::data::encode_png(img);
  const auto jpg = ltcl::data::encode_jpeg(img, 90);
  const Image ref_jpg = decode_image(jpg.data(), jpg.size(), "ref");
  std::vector<int> ok(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      bool good = true;
      for (int r = 0; r < 50; ++r) {
        good &= decode_image(png.data(), png.size(), "p").pixels == img.pixels;
        good &=
            decode_image(jpg.data(), jpg.size(), "j").pixels == ref_jpg.pixels;
        try {
          decode_image(jpg.data(), jpg.size() / 2, "half");
          good = false;
        } catch (const ltcl::Error&) {
        }
      }
      ok[t] = good;
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  for (int t = 0; t < 8; ++t) {
    EXPECT_TRUE(ok[t]) << "thread " << t;
  }
}

TEST(DataImageIo, EncodeRejectsBadImage) {
  Image bad(2, 2, 4);
  EXPECT_THROW(ltcl::data::encode_png(bad), ltcl::Error);
  Image empty;
  EXPECT_THROW(ltcl::data::encode_jpeg(empty), ltcl::Error);
}

}  // namespace
