#pragma once
// RandAugment as timm's `rand_augment_transform('rand-n{N}-m{M}-mstd{S}',
// {translate_const, img_mean})`, which PaCo / GPaCo's ImageNet-LT recipes
// use (METHODS.md section 10; their `randaugment.py` is a copy of timm's):
// unlike torchvision's RandAugment (augment::rand_augment), each of the N
// ops chosen (uniformly, with replacement, from 15) runs with probability
// `prob` (0.5), its magnitude drawn from N(M, S) and clipped to [0, 10],
// and the geometric ops interpolate bilinearly or bicubically (chosen per
// op) with `fill` (the ImageNet mean, 124 / 116 / 104) outside the image.
// The ops and their arguments at magnitude m (level = m / 10):
//   AutoContrast, Equalize, Invert             (no argument)
//   Rotate        +-30 level degrees            (sign at random)
//   PosterizeTpu  keep int(4 level) bits        (8 or more: no-op)
//   Solarize      invert pixels >= int(256 level)
//   SolarizeAdd   add int(110 level) to pixels < 128 (clipped at 255)
//   Color, Contrast, Brightness, Sharpness  enhance by 0.1 + 1.8 level
//   ShearX / ShearY          +-0.3 level        (PIL's inverse map)
//   TranslateXRel / YRel     +-0.45 level of the width / height
// The draws come from ltcl's keyed Rng (not Python's), so the same
// distribution, not the same images, as the official code.
#include <array>
#include <cstdint>

#include "ltcl/augment/transforms.h"

namespace ltcl::augment {

struct TimmRandAugmentOptions {
  int num_ops = 2;  // N
  double magnitude = 10;  // M, in [0, 10]
  double magnitude_std = 0.5;  // S (mstd); 0: always M
  double prob = 0.5;  // each chosen op's probability
  std::array<uint8_t, 3> fill = {124, 116, 104};  // round(255 * ImageNet mean)
};

Transform rand_augment_timm(const TimmRandAugmentOptions& options = {});

namespace detail {
// One op of the list above (index 0..14 in that order: AutoContrast,
// Equalize, Invert, Rotate, PosterizeTpu, Solarize, SolarizeAdd, Color,
// Contrast, Brightness, Sharpness, ShearX, ShearY, TranslateXRel,
// TranslateYRel) at `magnitude` (clipped to [0, 10]), the signed ops'
// argument negated when `negate`, bicubic instead of bilinear when
// `bicubic`. What rand_augment_timm applies after its draws (for tests).
constexpr int kTimmOps = 15;
void apply_timm_op(
    Image& image, int op, double magnitude, bool negate, bool bicubic,
    const std::array<uint8_t, 3>& fill);
}  // namespace detail

}  // namespace ltcl::augment
