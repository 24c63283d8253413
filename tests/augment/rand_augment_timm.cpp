// augment::rand_augment_timm (timm's RandAugment, PaCo / GPaCo's ImageNet-LT
// views): each op's argument at a magnitude checked by hand, the geometric
// ops against a naive inverse-map bilinear sampler written here (PIL's
// affine convention, the fill outside), and the whole transform's draws:
// prob 0 and 0 ops change nothing; with prob 0.5 one op in 15 being a no-op
// here, an image stays unchanged with probability 0.5 + 0.5 / 15.
#include "ltcl/augment/rand_augment_timm.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "ltcl/augment/recipe.h"
#include "ltcl/util/random.h"
#include "support.h"

namespace {

using ltcl::augment::Image;
using ltcl::augment::TimmRandAugmentOptions;
using ltcl::augment::detail::apply_timm_op;
using ltcl::util::Rng;

const std::array<uint8_t, 3> kFill = {124, 116, 104};

enum {
  kAutoContrast, kEqualize, kInvert, kRotate, kPosterizeTpu, kSolarize,
  kSolarizeAdd, kColor, kContrast, kBrightness, kSharpness, kShearX, kShearY,
  kTranslateXRel, kTranslateYRel
};

Image gray_values(std::initializer_list<int> v) {
  Image im(1, static_cast<int>(v.size()), 1);
  int i = 0;
  for (int x : v) {
    im.pixels[i++] = static_cast<uint8_t>(x);
  }
  return im;
}

std::vector<int> values(const Image& im) {
  return std::vector<int>(im.pixels.begin(), im.pixels.end());
}

Image random_rgb(int h, int w, uint64_t seed, int lo = 10, int hi = 240) {
  Rng rng{seed};
  Image im(h, w, 3);
  for (auto& p : im.pixels) {
    p = static_cast<uint8_t>(lo + rng.below(hi - lo + 1));
  }
  return im;
}

// The output pixel (x, y) samples the input at A (x, y) + t, bilinearly, the
// fill standing for every neighbour outside the image (OpenCV's constant
// border, which PIL's fill approximates).
Image naive_inverse_warp(const Image& in, double a, double b, double c,
                         double d, double e, double f) {
  Image out(in.height, in.width, in.channels);
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      const double sx = a * x + b * y + c, sy = d * x + e * y + f;
      const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
      const double fx = sx - x0, fy = sy - y0;
      for (int ch = 0; ch < in.channels; ++ch) {
        auto at = [&](int yy, int xx) -> double {
          if (xx < 0 || yy < 0 || xx >= in.width || yy >= in.height) {
            return kFill[ch];
          }
          return in.pixels[(static_cast<size_t>(yy) * in.width + xx) * in.channels + ch];
        };
        const double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                         fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        out.pixels[(static_cast<size_t>(y) * in.width + x) * in.channels + ch] =
            static_cast<uint8_t>(std::lround(v));
      }
    }
  }
  return out;
}

int max_diff(const Image& a, const Image& b) {
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    m = std::max(m, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  }
  return m;
}

double mean_diff(const Image& a, const Image& b) {
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  }
  return s / static_cast<double>(a.pixels.size());
}

TEST(RandAugmentTimm, PixelOpsAtTheirLevels) {
  // SolarizeAdd: + int(110 level) below 128, clipped at 255.
  auto im = gray_values({0, 100, 127, 128, 200, 250});
  apply_timm_op(im, kSolarizeAdd, 10, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{110, 210, 237, 128, 200, 250}));
  im = gray_values({0, 100, 127, 128});
  apply_timm_op(im, kSolarizeAdd, 5, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{55, 155, 182, 128}));
  // PosterizeTpu: int(4 level) bits kept: 4 at 10, 3 at 9.9, 0 at 1.
  im = gray_values({0x3F, 0xAB});
  apply_timm_op(im, kPosterizeTpu, 10, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{0x30, 0xA0}));
  im = gray_values({0x3F, 0xAB});
  apply_timm_op(im, kPosterizeTpu, 9.9, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{0x20, 0xA0}));
  im = gray_values({0x3F, 0xAB});
  apply_timm_op(im, kPosterizeTpu, 1, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{0, 0}));
  // Solarize: pixels >= int(256 level) inverted; 256 at 10: none.
  im = gray_values({127, 128, 200, 255});
  apply_timm_op(im, kSolarize, 5, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{127, 127, 55, 0}));
  im = gray_values({127, 128, 200, 255});
  apply_timm_op(im, kSolarize, 10, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{127, 128, 200, 255}));
  // Enhance ops: factor 0.1 + 1.8 level, so 1 (no change) at magnitude 5,
  // 1.9 at 10 (brightness: x 1.9, clipped); the magnitude is clipped to 10.
  im = gray_values({10, 100, 200});
  apply_timm_op(im, kBrightness, 5, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{10, 100, 200}));
  for (double m : {10.0, 12.0}) {
    im = gray_values({10, 100, 200});
    apply_timm_op(im, kBrightness, m, false, false, kFill);
    EXPECT_EQ(values(im), (std::vector<int>{19, 190, 255})) << m;
  }
  // Invert.
  im = gray_values({0, 100, 255});
  apply_timm_op(im, kInvert, 3, false, false, kFill);
  EXPECT_EQ(values(im), (std::vector<int>{255, 155, 0}));
}

TEST(RandAugmentTimm, GeometricOpsEqualANaiveInverseMapSampler) {
  const Image in = random_rgb(20, 20, 7);
  // Translate by 0.45 level of the side: 9 px at magnitude 10 on 20 px,
  // whole pixels, so the bilinear sampler is exact; negated: -9.
  for (bool negate : {false, true}) {
    Image x = in, y = in;
    apply_timm_op(x, kTranslateXRel, 10, negate, false, kFill);
    apply_timm_op(y, kTranslateYRel, 10, negate, true, kFill);
    const double s = negate ? -9 : 9;
    EXPECT_EQ(max_diff(x, naive_inverse_warp(in, 1, 0, s, 0, 1, 0)), 0) << negate;
    EXPECT_EQ(max_diff(y, naive_inverse_warp(in, 1, 0, 0, 0, 1, s)), 0) << negate;
  }
  // Shear: the input at (x + f y, y), f = 0.3 level. Sub-pixel: OpenCV's
  // bilinear quantises the source position to 1/32 pixel, so on this
  // texture (neighbours up to 230 apart) it is within 230 / 32 + 1 = 8
  // levels of the exact sampler, and about 1 on average (seen: max 3-4); a
  // wrong sign, centre or direction is off by tens.
  Image sx = in, sy = in;
  apply_timm_op(sx, kShearX, 10, false, false, kFill);
  apply_timm_op(sy, kShearY, 5, true, false, kFill);
  EXPECT_LE(max_diff(sx, naive_inverse_warp(in, 1, 0.3, 0, 0, 1, 0)), 8);
  EXPECT_LE(mean_diff(sx, naive_inverse_warp(in, 1, 0.3, 0, 0, 1, 0)), 1.0);
  EXPECT_LE(max_diff(sy, naive_inverse_warp(in, 1, 0, 0, -0.15, 1, 0)), 8);
  EXPECT_LE(mean_diff(sy, naive_inverse_warp(in, 1, 0, 0, -0.15, 1, 0)), 1.0);
  // Rotate by 30 level degrees counter-clockwise about (w / 2, h / 2): the
  // output (x, y) samples the input at the point rotated back.
  Image r = in;
  apply_timm_op(r, kRotate, 10, false, false, kFill);
  const double t = 30.0 * M_PI / 180, cx = 10, cy = 10;
  // Counter-clockwise on screen (y down) by t: the inverse map rotates by
  // -t there: x_in = c + cos t (x - c) - sin t (y - c), y_in = c + sin t (x - c) + cos t (y - c).
  const double a = std::cos(t), b = -std::sin(t), d = std::sin(t), e = std::cos(t);
  const Image want = naive_inverse_warp(in, a, b, cx - a * cx - b * cy, d, e,
                                        cy - d * cx - e * cy);
  EXPECT_LE(max_diff(r, want), 8);
  EXPECT_LE(mean_diff(r, want), 1.0);
  // The fill is the given colour.
  Image black(4, 4, 3);
  apply_timm_op(black, kTranslateXRel, 10, false, false, kFill);
  EXPECT_EQ(black.pixels[3 * 3 + 0], 124);
  EXPECT_EQ(black.pixels[3 * 3 + 1], 116);
  EXPECT_EQ(black.pixels[3 * 3 + 2], 104);
}

TEST(RandAugmentTimm, DrawsAndProbabilities) {
  const Image in = random_rgb(16, 16, 3);
  TimmRandAugmentOptions none;
  none.prob = 0;
  auto t0 = ltcl::augment::rand_augment_timm(none);
  TimmRandAugmentOptions zero_ops;
  zero_ops.num_ops = 0;
  auto t1 = ltcl::augment::rand_augment_timm(zero_ops);
  Rng rng{1};
  for (int i = 0; i < 50; ++i) {
    Image a = in, b = in;
    t0(a, rng);
    t1(b, rng);
    EXPECT_EQ(a.pixels, in.pixels);
    EXPECT_EQ(b.pixels, in.pixels);
  }
  // One op, p 0.5, magnitude exactly 10: of the 15 ops only Solarize (at
  // threshold 256) leaves this image (values 10..240, colour, texture)
  // unchanged, so P(unchanged) = 0.5 + 0.5 / 15.
  TimmRandAugmentOptions one;
  one.num_ops = 1;
  one.magnitude_std = 0;
  auto t = ltcl::augment::rand_augment_timm(one);
  const int n = 6000;
  int unchanged = 0;
  for (int i = 0; i < n; ++i) {
    Image a = in;
    t(a, rng);
    unchanged += a.pixels == in.pixels;
  }
  const double p = 0.5 + 0.5 / 15, sd = std::sqrt(p * (1 - p) / n);
  EXPECT_NEAR(unchanged / double(n), p, 5 * sd);
  // Each op alone changes the image except Solarize at 10.
  for (int op = 0; op < ltcl::augment::detail::kTimmOps; ++op) {
    Image a = in;
    apply_timm_op(a, op, 10, false, false, kFill);
    EXPECT_EQ(a.pixels == in.pixels, op == kSolarize) << "op " << op;
  }
  ltcl::test::expect_error(
      [] {
        TimmRandAugmentOptions bad;
        bad.magnitude = 11;
        ltcl::augment::rand_augment_timm(bad);
      },
      {"magnitude", "[0, 10]"});
}

TEST(RandAugmentTimm, PacoRecipesBuild) {
  ltcl::augment::DatasetStats stats;
  stats.name = "imagenet_lt";
  stats.height = stats.width = 256;
  stats.channels = 3;
  stats.mean = {0.485, 0.456, 0.406};
  stats.std = {0.229, 0.224, 0.225};
  for (const char* name : {"imagenet_randcls", "imagenet_randclsstack", "imagenet_sim"}) {
    auto r = ltcl::augment::make_recipe(name, stats);
    Image im = random_rgb(256, 300, 5);
    Rng rng{2};
    r.augment(im, rng);
    EXPECT_EQ(im.height, 224) << name;
    EXPECT_EQ(im.width, 224) << name;
  }
}

}  // namespace
