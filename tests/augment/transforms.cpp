// Transform semantics against hand-computed values and naive references.
#include "ltcl/augment/transforms.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "ltcl/augment/recipe.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::augment::Image;
using ltcl::util::Rng;
namespace aug = ltcl::augment;
namespace F = ltcl::augment::functional;

Image random_image(int h, int w, int c, uint64_t seed) {
  Image im(h, w, c);
  Rng rng{seed};
  for (auto& p : im.pixels) {
    p = static_cast<uint8_t>(rng.below(256));
  }
  return im;
}

Image filled(int h, int w, std::vector<uint8_t> pixel) {
  Image im(h, w, static_cast<int>(pixel.size()));
  for (size_t i = 0; i < im.size(); ++i) {
    im.pixels[i] = pixel[i % pixel.size()];
  }
  return im;
}

using ltcl::test::expect_error;

TEST(AugmentFlip, TwiceIsIdentityAndMirrors) {
  const Image a = random_image(5, 7, 3, 1);
  Image b = a;
  F::hflip(b);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 7; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(b.at(y, x, c), a.at(y, 6 - x, c));
      }
    }
  }
  F::hflip(b);
  EXPECT_EQ(a.pixels, b.pixels);
}

TEST(AugmentFlip, RateWithinBinomialBound) {
  auto flip = aug::random_horizontal_flip(0.5);
  const Image a = random_image(2, 3, 1, 2);
  const int n = 10000;
  int flipped = 0;
  for (int i = 0; i < n; ++i) {
    Image b = a;
    Rng rng{7, static_cast<uint64_t>(i)};
    flip(b, rng);
    flipped += b.pixels != a.pixels;
  }
  // Binomial(10000, 0.5): sd 50; 5 sd.
  EXPECT_NEAR(flipped, n / 2, 250);
  auto never = aug::random_horizontal_flip(0.0);
  auto always = aug::random_horizontal_flip(1.0);
  for (int i = 0; i < 50; ++i) {
    Image b = a;
    Rng rng{8, static_cast<uint64_t>(i)};
    never(b, rng);
    EXPECT_EQ(b.pixels, a.pixels);
    always(b, rng);
    EXPECT_NE(b.pixels, a.pixels);
  }
}

TEST(AugmentCrop, WindowOutsideIsFill) {
  // 3x3 gray image with values 1..9; window top -1, left 1, 3x3, fill 7.
  Image a(3, 3, 1);
  for (int i = 0; i < 9; ++i) {
    a.pixels[i] = static_cast<uint8_t>(i + 1);
  }
  Image b = F::crop(a, -1, 1, 3, 3, 7);
  EXPECT_EQ(b.pixels, (std::vector<uint8_t>{7, 7, 7, 2, 3, 7, 5, 6, 7}));
}

TEST(AugmentCrop, PaddedRandomCropKeepsSizeAndShiftsContent) {
  const Image a = random_image(6, 6, 3, 3);
  auto crop = aug::random_crop(6, 2, 0);
  std::set<std::pair<int, int>> shifts;
  for (int i = 0; i < 400; ++i) {
    Image b = a;
    Rng rng{11, static_cast<uint64_t>(i)};
    crop(b, rng);
    ASSERT_EQ(b.height, 6);
    ASSERT_EQ(b.width, 6);
    ASSERT_EQ(b.channels, 3);
    // Find the shift (dy, dx) with b(y, x) = a(y + dy, x + dx), 0 outside.
    int found = 0;
    for (int dy = -2; dy <= 2; ++dy) {
      for (int dx = -2; dx <= 2; ++dx) {
        bool ok = true;
        for (int y = 0; y < 6 && ok; ++y) {
          for (int x = 0; x < 6 && ok; ++x) {
            for (int c = 0; c < 3 && ok; ++c) {
              const int sy = y + dy;
              const int sx = x + dx;
              const int want =
                  sy >= 0 && sy < 6 && sx >= 0 && sx < 6 ? a.at(sy, sx, c) : 0;
              ok = b.at(y, x, c) == want;
            }
          }
        }
        if (ok) {
          shifts.insert({dy, dx});
          ++found;
        }
      }
    }
    ASSERT_EQ(found, 1) << "draw " << i;
  }
  EXPECT_EQ(shifts.size(), 25u);  // every offset in [-2, 2]^2 is reachable
}

TEST(AugmentResizedCrop, FullScaleUnitRatioIsResizeOfWholeImage) {
  const Image a = random_image(8, 8, 3, 4);
  auto rrc = aug::random_resized_crop(4, {1.0, 1.0}, {1.0, 1.0});
  Image b = a;
  Rng rng{1};
  rrc(b, rng);
  ASSERT_EQ(b.height, 4);
  ASSERT_EQ(b.width, 4);
  // Naive reference: an exact 2x shrink averages 2x2 blocks, rounded.
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int sum = a.at(2 * y, 2 * x, c) + a.at(2 * y, 2 * x + 1, c) +
                        a.at(2 * y + 1, 2 * x, c) +
                        a.at(2 * y + 1, 2 * x + 1, c);
        EXPECT_NEAR(b.at(y, x, c), sum / 4.0, 0.51);
      }
    }
  }
  EXPECT_EQ(b.pixels, F::resize(a, 4, 4).pixels);
}

TEST(AugmentResizedCrop, FallbackIsCentreCropClampedToRatio) {
  // 10 x 100 with aspect ratio 1 and area >= 90%: no window fits, so the
  // fallback takes the centred 10 x 10 window (left = 45).
  const Image a = random_image(10, 100, 1, 5);
  auto rrc = aug::random_resized_crop(10, {0.9, 1.0}, {1.0, 1.0});
  Image b = a;
  Rng rng{2};
  rrc(b, rng);
  ASSERT_EQ(b.height, 10);
  ASSERT_EQ(b.width, 10);
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 10; ++x) {
      ASSERT_EQ(b.at(y, x, 0), a.at(y, 45 + x, 0));
    }
  }
}

TEST(AugmentResizedCrop, OutputShapeOverManyDraws) {
  const Image a = random_image(32, 32, 3, 6);
  auto rrc = aug::random_resized_crop(24);
  for (int i = 0; i < 100; ++i) {
    Image b = a;
    Rng rng{3, static_cast<uint64_t>(i)};
    rrc(b, rng);
    ASSERT_EQ(b.height, 24);
    ASSERT_EQ(b.width, 24);
    ASSERT_EQ(b.channels, 3);
  }
}

TEST(AugmentColor, GrayscaleIsLumaInEqualChannels) {
  Image a = filled(2, 2, {200, 100, 50});
  F::to_grayscale(a);
  // 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.pixels[i], 124);
  }
  Image r = random_image(9, 9, 3, 7);
  auto gray = aug::random_grayscale(1.0);
  Rng rng{1};
  gray(r, rng);
  for (int y = 0; y < 9; ++y) {
    for (int x = 0; x < 9; ++x) {
      EXPECT_EQ(r.at(y, x, 0), r.at(y, x, 1));
      EXPECT_EQ(r.at(y, x, 1), r.at(y, x, 2));
    }
  }
}

TEST(AugmentColor, ZeroJitterIsIdentity) {
  const Image a = random_image(16, 16, 3, 8);
  auto jitter = aug::color_jitter(0, 0, 0, 0);
  for (int i = 0; i < 10; ++i) {
    Image b = a;
    Rng rng{4, static_cast<uint64_t>(i)};
    jitter(b, rng);
    EXPECT_EQ(b.pixels, a.pixels);
  }
  // Unit factors and a zero hue shift are identities too.
  Image b = a;
  F::adjust_brightness(b, 1.0);
  F::adjust_contrast(b, 1.0);
  F::adjust_saturation(b, 1.0);
  F::adjust_hue(b, 0.0);
  EXPECT_EQ(b.pixels, a.pixels);
}

TEST(AugmentColor, HandComputedPixels) {
  Image b = filled(1, 1, {100, 20, 200});
  F::adjust_brightness(b, 1.5);  // blend with black
  EXPECT_EQ(b.pixels, (std::vector<uint8_t>{150, 30, 255}));

  // Contrast 0.5 on gray [0, 100]: mean 50 -> v / 2 + 25.
  Image g(1, 2, 1);
  g.pixels = {0, 100};
  F::adjust_contrast(g, 0.5);
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{25, 75}));

  // Saturation 2 on (200, 100, 50), gray 124: 2 v - 124, clamped.
  Image s = filled(1, 1, {200, 100, 50});
  F::adjust_saturation(s, 2.0);
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{255, 76, 0}));
  Image s0 = filled(1, 1, {200, 100, 50});
  F::adjust_saturation(s0, 0.0);
  EXPECT_EQ(s0.pixels, (std::vector<uint8_t>{124, 124, 124}));

  // Hue: red + 1/3 turn = green; red - 1/6 turn = magenta.
  Image h = filled(1, 1, {255, 0, 0});
  F::adjust_hue(h, 1.0 / 3.0);
  EXPECT_EQ(h.pixels, (std::vector<uint8_t>{0, 255, 0}));
  Image m = filled(1, 1, {255, 0, 0});
  F::adjust_hue(m, -1.0 / 6.0);
  EXPECT_EQ(m.pixels, (std::vector<uint8_t>{255, 0, 255}));
}

TEST(AugmentColor, OneChannelOnlyBrightnessAndContrast) {
  const Image a = random_image(8, 8, 1, 9);
  Image b = a;
  F::adjust_saturation(b, 0.0);
  F::adjust_hue(b, 0.3);
  F::to_grayscale(b);
  EXPECT_EQ(b.pixels, a.pixels);
  auto jitter = aug::color_jitter(0.4, 0.4, 0.4, 0.1);
  Rng rng{5};
  jitter(b, rng);
  EXPECT_EQ(b.channels, 1);
  EXPECT_NE(b.pixels, a.pixels);
}

TEST(AugmentOps, PointOpsHandComputed) {
  Image a(1, 4, 1);
  a.pixels = {0xAB, 200, 100, 0};
  Image p = a;
  F::posterize(p, 4);
  EXPECT_EQ(p.pixels, (std::vector<uint8_t>{0xA0, 0xC0, 0x60, 0}));
  Image s = a;
  F::solarize(s, 128);
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{255 - 0xAB, 55, 100, 0}));
  Image i = a;
  F::invert(i);
  EXPECT_EQ(i.pixels, (std::vector<uint8_t>{255 - 0xAB, 55, 155, 255}));
  // Autocontrast maps [50, 150] to [0, 255]; 100 -> 127.5, truncated.
  Image c(1, 3, 1);
  c.pixels = {50, 100, 150};
  F::autocontrast(c);
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{0, 127, 255}));
}

TEST(AugmentOps, EqualizeMatchesPilAlgorithm) {
  // 300 x 10, 300 x 20, 10 x 30: step = 600 / 255 = 2,
  // lut[v] = (pixels below v + 1) / 2: 10 -> 0, 20 -> 150, 30 -> 255.
  Image a(1, 610, 1);
  for (int i = 0; i < 610; ++i) {
    a.pixels[i] = i < 300 ? 10 : (i < 600 ? 20 : 30);
  }
  F::equalize(a);
  EXPECT_EQ(a.pixels[0], 0);
  EXPECT_EQ(a.pixels[300], 150);
  EXPECT_EQ(a.pixels[605], 255);
}

TEST(AugmentOps, GeometricOpsMovePixels) {
  Image a(3, 3, 1);
  for (int i = 0; i < 9; ++i) {
    a.pixels[i] = static_cast<uint8_t>(10 * (i + 1));
  }
  Image t = a;
  F::translate(t, 1, 0);  // right by one, 0 enters on the left
  EXPECT_EQ(t.pixels, (std::vector<uint8_t>{0, 10, 20, 0, 40, 50, 0, 70, 80}));
  Image r = a;
  F::rotate(r, 90);  // counter-clockwise: right column becomes top row
  EXPECT_EQ(
      r.pixels, (std::vector<uint8_t>{30, 60, 90, 20, 50, 80, 10, 40, 70}));
  Image sx = a;
  F::shear_x(sx, 1.0);  // x' = x + y: row y moves right by y
  EXPECT_EQ(sx.pixels, (std::vector<uint8_t>{10, 20, 30, 0, 40, 50, 0, 0, 70}));
}

TEST(AugmentOps, SharpnessBlursInteriorOnly) {
  Image a(3, 3, 1);
  a.pixels = {0, 0, 0, 0, 130, 0, 0, 0, 0};
  Image s = a;
  F::adjust_sharpness(s, 0.0);  // the degenerate image itself
  // Centre: 130 * 5 / 13 = 50; the border keeps the original 0.
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{0, 0, 0, 0, 50, 0, 0, 0, 0}));
  Image same = a;
  F::adjust_sharpness(same, 1.0);
  EXPECT_EQ(same.pixels, a.pixels);
}

TEST(AugmentOps, CutoutZeroesOneClippedSquare) {
  auto cut = aug::cutout(1, 4);
  for (int i = 0; i < 50; ++i) {
    Image a = filled(10, 10, {255, 255, 255});
    Rng rng{6, static_cast<uint64_t>(i)};
    cut(a, rng);
    int y0 = 10, y1 = -1, x0 = 10, x1 = -1, zeros = 0;
    for (int y = 0; y < 10; ++y) {
      for (int x = 0; x < 10; ++x) {
        if (a.at(y, x, 0) == 0) {
          ++zeros;
          y0 = std::min(y0, y);
          y1 = std::max(y1, y);
          x0 = std::min(x0, x);
          x1 = std::max(x1, x);
        }
      }
    }
    ASSERT_GT(zeros, 0);
    // A filled rectangle, at most 4 x 4, touching the border when clipped.
    EXPECT_EQ(zeros, (y1 - y0 + 1) * (x1 - x0 + 1));
    EXPECT_LE(y1 - y0 + 1, 4);
    EXPECT_LE(x1 - x0 + 1, 4);
    if (y1 - y0 + 1 < 4) {
      EXPECT_TRUE(y0 == 0 || y1 == 9);
    }
  }
}

TEST(AugmentAuto, PoliciesKeepShapeAndAreReproducible) {
  const Image a = random_image(32, 32, 3, 10);
  auto aa = aug::auto_augment_cifar10();
  auto ai = aug::auto_augment_imagenet();
  auto ra = aug::rand_augment(2, 10);
  int changed = 0;
  int policies_differ = 0;
  for (int i = 0; i < 200; ++i) {
    {
      // Same draws, other table: the two policies give other images.
      Image b = a;
      Image c = a;
      Rng r1{7, static_cast<uint64_t>(i)};
      Rng r2{7, static_cast<uint64_t>(i)};
      aa(b, r1);
      ai(c, r2);
      policies_differ += b.pixels != c.pixels;
    }
    for (const auto* t : {&aa, &ai, &ra}) {
      Image b = a;
      Image c = a;
      Rng r1{9, static_cast<uint64_t>(i)};
      Rng r2{9, static_cast<uint64_t>(i)};
      (*t)(b, r1);
      (*t)(c, r2);
      ASSERT_EQ(b.height, 32);
      ASSERT_EQ(b.width, 32);
      ASSERT_EQ(b.channels, 3);
      ASSERT_EQ(b.pixels, c.pixels);
      changed += b.pixels != a.pixels;
    }
  }
  // Most draws change the image (identity-like draws exist but are rare).
  EXPECT_GT(changed, 375);
  EXPECT_GT(policies_differ, 100);
  Image g = random_image(28, 28, 1, 11);
  for (int i = 0; i < 100; ++i) {
    Rng rng{10, static_cast<uint64_t>(i)};
    aa(g, rng);
    ai(g, rng);
    ra(g, rng);
    ASSERT_EQ(g.channels, 1);
  }
}

TEST(AugmentNormalize, ValuesAndChwLayout) {
  Image a(1, 2, 3);
  a.pixels = {255, 0, 51, 0, 255, 102};
  aug::Normalize n({0.5f, 0.5f, 0.2f}, {0.5f, 0.25f, 0.1f});
  std::vector<float> out(6, -99.f);
  n.to_chw(a, out.data());
  // channel 0: (1 - .5) / .5 = 1, (0 - .5) / .5 = -1
  // channel 1: (0 - .5) / .25 = -2, (1 - .5) / .25 = 2
  // channel 2: (.2 - .2) / .1 = 0, (.4 - .2) / .1 = 2
  const std::vector<float> want = {1, -1, -2, 2, 0, 2};
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(out[i], want[i], 1e-5) << i;
  }
}

TEST(AugmentRecipe, ShapesFollowTheDataset) {
  auto cifar = aug::DatasetStats::known("cifar10", 32, 32, 3);
  EXPECT_NEAR(cifar.mean[0], 0.4914f, 1e-6);
  auto mnist = aug::DatasetStats::known("mnist", 28, 28, 1);
  ASSERT_EQ(mnist.mean.size(), 1u);
  EXPECT_NEAR(mnist.std[0], 0.3081f, 1e-6);
  auto big = aug::DatasetStats::known("imagenet", 300, 400, 3);
  auto other = aug::DatasetStats::known("mystery", 32, 32, 3);
  EXPECT_EQ(other.mean, (std::vector<float>{0.5f, 0.5f, 0.5f}));
  const Image c = random_image(32, 32, 3, 12);
  const Image m = random_image(28, 28, 1, 13);
  const Image l = random_image(300, 400, 3, 14);
  for (const auto& name : aug::recipe_names()) {
    for (int i = 0; i < 20; ++i) {
      Rng rng{12, static_cast<uint64_t>(i)};
      auto rc = aug::make_recipe(name, cifar);
      Image x = c;
      rc.augment(x, rng);
      ASSERT_EQ(x.height, 32) << name;
      ASSERT_EQ(x.width, 32) << name;
      ASSERT_EQ(x.channels, 3) << name;
      auto rm = aug::make_recipe(name, mnist);
      Image y = m;
      rm.augment(y, rng);
      ASSERT_EQ(y.height, 28) << name;
      ASSERT_EQ(y.channels, 1) << name;
      EXPECT_EQ(rm.channels, 1);
    }
    auto rl = aug::make_recipe(name, big);
    EXPECT_EQ(rl.height, 224) << name;
    Image z = l;
    Rng rng{13};
    rl.augment(z, rng);
    EXPECT_EQ(z.height, 224) << name;
    EXPECT_EQ(z.width, 224) << name;
  }
  // eval on small images is normalisation only.
  auto ev = aug::make_recipe("eval", cifar);
  Image x = c;
  Rng rng{1};
  ev.augment(x, rng);
  EXPECT_EQ(x.pixels, c.pixels);
}

TEST(AugmentRecipe, OtherSizesAreFittedToTheRecipeSize) {
  // A folder of mixed sizes: every recipe brings every image to size x size.
  auto stats = aug::DatasetStats::known("folder", 32, 32, 3);
  for (const auto& name : aug::recipe_names()) {
    auto r = aug::make_recipe(name, stats);
    for (auto [h, w] : {std::pair{20, 20}, {45, 30}, {32, 80}, {7, 9}}) {
      Image x = random_image(h, w, 3, 5);
      Rng rng{3};
      r.augment(x, rng);
      ASSERT_EQ(x.height, 32) << name << " " << h << "x" << w;
      ASSERT_EQ(x.width, 32) << name << " " << h << "x" << w;
    }
  }
  // eval: fit = Resize(shorter side 32) + CenterCrop(32), by hand: a 32x64
  // image keeps its rows and loses 16 columns each side.
  auto ev = aug::make_recipe("eval", stats);
  Image wide = random_image(32, 64, 3, 8);
  Image x = wide;
  Rng rng{1};
  ev.augment(x, rng);
  ASSERT_EQ(x.height, 32);
  ASSERT_EQ(x.width, 32);
  for (int y = 0; y < 32; y += 7) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(x.at(y, 0, c), wide.at(y, 16, c));
      EXPECT_EQ(x.at(y, 31, c), wide.at(y, 47, c));
    }
  }
  // An explicit image_size: small images come out that size, larger ones
  // take the ImageNet rules scaled (Resize(size * 256 / 224), CenterCrop).
  auto small = aug::DatasetStats::known("folder", 48, 48, 3);
  small.image_size = 48;
  auto r48 = aug::make_recipe("cifar_weak", small);
  EXPECT_EQ(r48.height, 48);
  Image y = random_image(100, 70, 3, 9);
  r48.augment(y, rng);
  EXPECT_EQ(y.height, 48);
  auto big = aug::DatasetStats::known("folder", 112, 112, 3);
  big.image_size = 112;
  auto e112 = aug::make_recipe("eval", big);
  EXPECT_EQ(e112.width, 112);
  Image z = random_image(300, 200, 3, 10);
  e112.augment(z, rng);
  EXPECT_EQ(z.height, 112);
  EXPECT_EQ(z.width, 112);
}

TEST(AugmentBadOptions, RejectedWithClearMessages) {
  expect_error([] { aug::random_crop(-3); }, {"RandomCrop - size"});
  expect_error([] { aug::random_crop(32, -1); }, {"padding"});
  expect_error([] { aug::random_resized_crop(0); }, {"RandomResizedCrop"});
  expect_error(
      [] {
        aug::random_resized_crop(8, {0.5, 0.1});
      },
      {"got (0.5, 0.1)"});
  expect_error([] { aug::random_horizontal_flip(1.5); }, {"got 1.5"});
  expect_error([] { aug::random_grayscale(-0.1); }, {"RandomGrayscale"});
  expect_error(
      [] { aug::random_apply(aug::random_grayscale(1), 2); }, {"RandomApply"});
  expect_error([] { aug::color_jitter(-0.1); }, {"brightness"});
  expect_error([] { aug::color_jitter(0, 0, 0, 0.6); }, {"hue"});
  expect_error([] { aug::cutout(-1, 16); }, {"holes"});
  expect_error([] { aug::cutout(1, -16); }, {"length"});
  expect_error([] { aug::rand_augment(2, 31); }, {"magnitude"});
  expect_error([] { aug::Normalize({0.5f}, {0.f}); }, {"std"});
  expect_error(
      [] {
        aug::make_recipe(
            "fancy", aug::DatasetStats::known("cifar10", 32, 32, 3));
      },
      {"valid: cifar_weak, cifar_autoaug_cutout, cifar_weak_cutout, simclr"});
  expect_error(
      [] { aug::DatasetStats::known("cifar10", -32, 32, 3); }, {"got -32x32"});
  // Crop larger than the padded image is rejected when applied.
  expect_error(
      [] {
        Image a(4, 4, 3);
        Rng rng{1};
        aug::random_crop(16, 2)(a, rng);
      },
      {"larger than the padded image"});
}

TEST(AugmentRng, StreamsAreReproducibleAndDistinct) {
  Rng a{1, 2, 3, 4};
  Rng b{1, 2, 3, 4};
  Rng c{1, 2, 3, 5};
  int same = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a();
    EXPECT_EQ(x, b());
    same += x == c();
  }
  EXPECT_EQ(same, 0);
  // below(n) is uniform: 60000 draws over 6 values, chi-square (5 dof)
  // under its 0.1% critical value 20.5.
  Rng r{42};
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 60000; ++i) {
    ++counts[r.below(6)];
  }
  double chi2 = 0;
  for (int k : counts) {
    chi2 += (k - 10000.0) * (k - 10000.0) / 10000.0;
  }
  EXPECT_LT(chi2, 20.5);
}

}  // namespace

namespace {

// GaussianBlur against a naive float convolution written here: sigma drawn
// as U(min, max) from the same Rng, the separable normalised kernel,
// reflect (101) padding, rounding to nearest; OpenCV's 8-bit fixed point may
// differ by one grey level.
TEST(AugmentGaussianBlur, EqualsANaiveSeparableConvolution) {
  for (int k : {3, 5}) {
    for (int c : {1, 3}) {
      const Image a = random_image(9, 7, c, 40 + k + c);
      Image got = a;
      Rng rng{7, static_cast<uint64_t>(k)};
      ltcl::augment::gaussian_blur(k, 0.1, 2.0)(got, rng);
      Rng again{7, static_cast<uint64_t>(k)};
      const double sigma = again.uniform(0.1, 2.0);
      std::vector<double> w(k);
      double sum = 0;
      for (int i = 0; i < k; ++i) {
        const double x = i - (k - 1) / 2.0;
        w[i] = std::exp(-x * x / (2 * sigma * sigma));
        sum += w[i];
      }
      for (double& v : w) {
        v /= sum;
      }
      auto reflect = [](int i, int n) {
        while (i < 0 || i >= n) {
          i = i < 0 ? -i : 2 * (n - 1) - i;
        }
        return i;
      };
      auto px = [&](int y, int x, int ch) {
        return static_cast<double>(a.pixels[(y * a.width + x) * c + ch]);
      };
      int worst = 0;
      for (int y = 0; y < a.height; ++y) {
        for (int x = 0; x < a.width; ++x) {
          for (int ch = 0; ch < c; ++ch) {
            double v = 0;
            for (int i = 0; i < k; ++i) {
              for (int j = 0; j < k; ++j) {
                v += w[i] * w[j] *
                    px(reflect(y + i - (k - 1) / 2, a.height),
                       reflect(x + j - (k - 1) / 2, a.width), ch);
              }
            }
            const int want = static_cast<int>(std::lround(v));
            const int have = got.pixels[(y * a.width + x) * c + ch];
            worst = std::max(worst, std::abs(want - have));
          }
        }
      }
      EXPECT_LE(worst, 1) << "k " << k << " channels " << c;
    }
  }
  ltcl::test::expect_error(
      [] { ltcl::augment::gaussian_blur(4); }, {"odd"});
  ltcl::test::expect_error(
      [] { ltcl::augment::gaussian_blur(3, 0.0, 1.0); }, {"0 < min <= max"});
}

}  // namespace
