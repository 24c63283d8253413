#include "ltcl/augment/rand_augment_timm.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "ltcl/util/error.h"
#include "ltcl/util/random_normal.h"

namespace ltcl::augment {
namespace {

enum class Op {
  kAutoContrast,
  kEqualize,
  kInvert,
  kRotate,
  kPosterizeTpu,
  kSolarize,
  kSolarizeAdd,
  kColor,
  kContrast,
  kBrightness,
  kSharpness,
  kShearX,
  kShearY,
  kTranslateXRel,
  kTranslateYRel,
};
constexpr int kOps = 15;  // timm's _RAND_TRANSFORMS, in its order

cv::Mat as_mat(Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels), image.data());
}

cv::Scalar fill_of(const Image& image, const std::array<uint8_t, 3>& fill) {
  if (image.channels == 1) {
    return cv::Scalar::all(fill[0]);
  }
  return cv::Scalar(fill[0], fill[1], fill[2]);
}

// PIL's Image.transform(AFFINE, (a, b, c, d, e, f)): the output pixel (x, y)
// takes the input at (a x + b y + c, d x + e y + f).
void warp_inverse(
    Image& image, const cv::Matx23d& inverse, int interpolation,
    const std::array<uint8_t, 3>& fill) {
  Image out(image.height, image.width, image.channels);
  cv::Mat dst = as_mat(out);
  cv::warpAffine(
      as_mat(image), dst, cv::Mat(inverse), dst.size(),
      interpolation | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT,
      fill_of(image, fill));
  image = std::move(out);
}

void solarize_add(Image& image, int add) {
  for (auto& p : image.pixels) {
    if (p < 128) {
      p = static_cast<uint8_t>(std::min(255, p + add));
    }
  }
}

}  // namespace

namespace detail {

void apply_timm_op(
    Image& image, int op_index, double magnitude, bool negate, bool bicubic,
    const std::array<uint8_t, 3>& fill) {
  namespace F = functional;
  if (op_index < 0 || op_index >= kOps) {
    fail("RandAugment (timm) - op index must be in [0, {}): {{got {}}}", kOps,
         op_index);
  }
  const double level = std::clamp(magnitude, 0.0, 10.0) / 10.0;
  const double sign = negate ? -1.0 : 1.0;
  const int interpolation = bicubic ? cv::INTER_CUBIC : cv::INTER_LINEAR;
  const double w = image.width, h = image.height;
  switch (static_cast<Op>(op_index)) {
    case Op::kAutoContrast:
      F::autocontrast(image);
      break;
    case Op::kEqualize:
      F::equalize(image);
      break;
    case Op::kInvert:
      F::invert(image);
      break;
    case Op::kRotate: {
      // PIL's rotate: counter-clockwise by the angle about (w / 2, h / 2).
      cv::Mat r = cv::getRotationMatrix2D(
          cv::Point2f(static_cast<float>(w / 2), static_cast<float>(h / 2)),
          sign * 30.0 * level, 1.0);
      cv::Mat inv;
      cv::invertAffineTransform(r, inv);
      warp_inverse(image, cv::Matx23d(inv), interpolation, fill);
      break;
    }
    case Op::kPosterizeTpu: {
      const int bits = static_cast<int>(level * 4);
      if (bits < 8) {
        F::posterize(image, bits);
      }
      break;
    }
    case Op::kSolarize:
      F::solarize(image, static_cast<int>(level * 256));
      break;
    case Op::kSolarizeAdd:
      solarize_add(image, static_cast<int>(level * 110));
      break;
    case Op::kColor:
      F::adjust_saturation(image, level * 1.8 + 0.1);
      break;
    case Op::kContrast:
      F::adjust_contrast(image, level * 1.8 + 0.1);
      break;
    case Op::kBrightness:
      F::adjust_brightness(image, level * 1.8 + 0.1);
      break;
    case Op::kSharpness:
      F::adjust_sharpness(image, level * 1.8 + 0.1);
      break;
    case Op::kShearX:
      warp_inverse(image, cv::Matx23d(1, sign * 0.3 * level, 0, 0, 1, 0),
                   interpolation, fill);
      break;
    case Op::kShearY:
      warp_inverse(image, cv::Matx23d(1, 0, 0, sign * 0.3 * level, 1, 0),
                   interpolation, fill);
      break;
    case Op::kTranslateXRel:
      warp_inverse(image, cv::Matx23d(1, 0, sign * 0.45 * level * w, 0, 1, 0),
                   interpolation, fill);
      break;
    case Op::kTranslateYRel:
      warp_inverse(image, cv::Matx23d(1, 0, 0, 0, 1, sign * 0.45 * level * h),
                   interpolation, fill);
      break;
  }
}

}  // namespace detail

Transform rand_augment_timm(const TimmRandAugmentOptions& o) {
  if (o.num_ops < 0) {
    fail("RandAugment (timm) - num_ops must be >= 0: {{got {}}}", o.num_ops);
  }
  if (!(o.magnitude >= 0 && o.magnitude <= 10)) {
    fail("RandAugment (timm) - magnitude must be in [0, 10]: {{got {}}}",
         o.magnitude);
  }
  if (!(o.magnitude_std >= 0) || !std::isfinite(o.magnitude_std)) {
    fail("RandAugment (timm) - magnitude_std must be >= 0: {{got {}}}",
         o.magnitude_std);
  }
  if (!(o.prob >= 0 && o.prob <= 1)) {
    fail("RandAugment (timm) - prob must be in [0, 1]: {{got {}}}", o.prob);
  }
  return [o](Image& image, Rng& rng) {
    // The ops first (numpy.random.choice of N with replacement), then each
    // op's draws in the official order: run?, magnitude noise, sign (the
    // signed ops), interpolation (the geometric ops).
    std::vector<int> ops;
    for (int k = 0; k < o.num_ops; ++k) {
      ops.push_back(static_cast<int>(rng.below(kOps)));
    }
    for (int op : ops) {
      if (rng.uniform() > o.prob) {
        continue;
      }
      double m = o.magnitude;
      if (o.magnitude_std > 0) {
        m += o.magnitude_std * util::standard_normal(rng, 1)[0];
      }
      const Op kind = static_cast<Op>(op);
      const bool is_signed = kind == Op::kRotate || kind == Op::kShearX ||
                             kind == Op::kShearY || kind == Op::kTranslateXRel ||
                             kind == Op::kTranslateYRel;
      const bool negate = is_signed && rng.uniform() > 0.5;
      const bool bicubic = is_signed && rng.below(2) == 1;
      detail::apply_timm_op(image, op, m, negate, bicubic, o.fill);
    }
  };
}

}  // namespace ltcl::augment
