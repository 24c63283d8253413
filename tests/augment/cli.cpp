// End-to-end: `ltcl data preview` and `ltcl bench loader` on a tiny folder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ltcl/util/random.h"
#include "ltcl/data/image_io.h"
#include "support.h"

namespace {

using ltcl::test::cli_path;
using ltcl::test::run_command;
using ltcl::test::TempDir;

// root/<a|b>/<k>.png, 32x32 RGB noise.
void make_folder(const std::filesystem::path& root) {
  ltcl::util::Rng rng{3};
  for (const char* cls : {"a", "b"}) {
    std::filesystem::create_directories(root / cls);
    for (int k = 0; k < 6; ++k) {
      ltcl::data::Image im(32, 32, 3);
      for (auto& p : im.pixels) {
        p = static_cast<uint8_t>(rng.below(256));
      }
      ltcl::data::write_png(
          (root / cls / (std::to_string(k) + ".png")).string(), im);
    }
  }
}

TEST(AugmentCli, PreviewWritesAGridOfRowsAndViews) {
  TempDir tmp;
  make_folder(tmp / "data");
  const auto out = (tmp / "grid.png").string();
  std::string log;
  const int rc = run_command(
      cli_path() + " data preview --dataset folder --root " +
          (tmp / "data").string() +
          " --recipe cifar_weak,simclr --count 3 --scale 1 --out " + out,
      &log);
  ASSERT_EQ(rc, 0) << log;
  const auto grid = ltcl::data::read_image(out);
  // 3 rows x 2 columns of 32-pixel cells with 2-pixel gaps.
  EXPECT_EQ(grid.width, 2 + 2 * (32 + 2));
  EXPECT_EQ(grid.height, 2 + 3 * (32 + 2));
  EXPECT_EQ(grid.channels, 3);
}

TEST(AugmentCli, UnknownRecipeIsAClearError) {
  TempDir tmp;
  make_folder(tmp / "data");
  std::string log;
  const int rc = run_command(
      cli_path() + " data preview --dataset folder --root " +
          (tmp / "data").string() + " --recipe cifar_weak,fancy --out " +
          (tmp / "g.png").string(),
      &log);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("unknown recipe: {got 'fancy'"), std::string::npos) << log;
  EXPECT_NE(log.find("valid: cifar_weak"), std::string::npos) << log;
}

TEST(AugmentCli, BenchLoaderReportsARate) {
  TempDir tmp;
  make_folder(tmp / "data");
  std::string log;
  const int rc = run_command(
      cli_path() + " bench loader --dataset folder --root " +
          (tmp / "data").string() +
          " --views cifar_weak,simclr,simclr --batch-size 4 --threads 2"
          " --seconds 0.3 --warmup 1 --json",
      &log);
  ASSERT_EQ(rc, 0) << log;
  const auto j = nlohmann::json::parse(log);
  EXPECT_GT(j["images_per_s"].get<double>(), 0);
  // Every view counted: images = 3 x samples.
  EXPECT_NEAR(
      j["images_per_s"].get<double>(),
      3 * j["samples_per_s"].get<double>(),
      1e-6 * j["images_per_s"].get<double>());
  EXPECT_EQ(j["images"].get<int64_t>() % 3, 0);
}

}  // namespace
