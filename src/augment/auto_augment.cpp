// AutoAugment (CIFAR-10 policy) and RandAugment with torchvision 0.14's op
// set, magnitude bins and random draws (policy, then the two probabilities,
// then the two signs; RandAugment: op then sign, per op).
#include <cmath>

#include "ltcl/augment/transforms.h"
#include "ltcl/util/error.h"

namespace ltcl::augment {

namespace {

enum class Op {
  kIdentity,
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
  kRotate,
  kBrightness,
  kColor,
  kContrast,
  kSharpness,
  kPosterize,
  kSolarize,
  kAutoContrast,
  kEqualize,
  kInvert,
};

// torch.linspace(lo, hi, n)[i].
double linspace(double lo, double hi, int n, int i) {
  return lo + (hi - lo) * i / (n - 1);
}

// The magnitude of `op` at bin `bin` of `bins` for an image of h x w, and
// whether the op takes a random sign (torchvision's _augmentation_space).
double magnitude_of(Op op, int bin, int bins, int h, int w, bool* is_signed) {
  *is_signed = true;
  switch (op) {
    case Op::kShearX:
    case Op::kShearY:
      return linspace(0.0, 0.3, bins, bin);
    case Op::kTranslateX:
      return linspace(0.0, 150.0 / 331.0 * w, bins, bin);
    case Op::kTranslateY:
      return linspace(0.0, 150.0 / 331.0 * h, bins, bin);
    case Op::kRotate:
      return linspace(0.0, 30.0, bins, bin);
    case Op::kBrightness:
    case Op::kColor:
    case Op::kContrast:
    case Op::kSharpness:
      return linspace(0.0, 0.9, bins, bin);
    default:
      break;
  }
  *is_signed = false;
  switch (op) {
    case Op::kPosterize:
      return 8 - std::nearbyint(bin / ((bins - 1) / 4.0));
    case Op::kSolarize:
      return linspace(255.0, 0.0, bins, bin);
    default:
      return 0.0;
  }
}

// torchvision's _apply_op.
void apply_op(Image& image, Op op, double m) {
  namespace F = functional;
  switch (op) {
    case Op::kIdentity:
      break;
    case Op::kShearX:
      F::shear_x(image, m);
      break;
    case Op::kShearY:
      F::shear_y(image, m);
      break;
    case Op::kTranslateX:
      F::translate(image, static_cast<int>(m), 0);
      break;
    case Op::kTranslateY:
      F::translate(image, 0, static_cast<int>(m));
      break;
    case Op::kRotate:
      F::rotate(image, m);
      break;
    case Op::kBrightness:
      F::adjust_brightness(image, 1.0 + m);
      break;
    case Op::kColor:
      F::adjust_saturation(image, 1.0 + m);
      break;
    case Op::kContrast:
      F::adjust_contrast(image, 1.0 + m);
      break;
    case Op::kSharpness:
      F::adjust_sharpness(image, 1.0 + m);
      break;
    case Op::kPosterize:
      F::posterize(image, static_cast<int>(m));
      break;
    case Op::kSolarize:
      F::solarize(image, m);
      break;
    case Op::kAutoContrast:
      F::autocontrast(image);
      break;
    case Op::kEqualize:
      F::equalize(image);
      break;
    case Op::kInvert:
      F::invert(image);
      break;
  }
}

struct SubOp {
  Op op;
  double p;
  int bin;  // -1: no magnitude
};

struct SubPolicy {
  SubOp first;
  SubOp second;
};

// AutoAugment's CIFAR-10 policy (Cubuk et al. 2019, appendix table).
const SubPolicy kCifar10Policy[25] = {
    {{Op::kInvert, 0.1, -1}, {Op::kContrast, 0.2, 6}},
    {{Op::kRotate, 0.7, 2}, {Op::kTranslateX, 0.3, 9}},
    {{Op::kSharpness, 0.8, 1}, {Op::kSharpness, 0.9, 3}},
    {{Op::kShearY, 0.5, 8}, {Op::kTranslateY, 0.7, 9}},
    {{Op::kAutoContrast, 0.5, -1}, {Op::kEqualize, 0.9, -1}},
    {{Op::kShearY, 0.2, 7}, {Op::kPosterize, 0.3, 7}},
    {{Op::kColor, 0.4, 3}, {Op::kBrightness, 0.6, 7}},
    {{Op::kSharpness, 0.3, 9}, {Op::kBrightness, 0.7, 9}},
    {{Op::kEqualize, 0.6, -1}, {Op::kEqualize, 0.5, -1}},
    {{Op::kContrast, 0.6, 7}, {Op::kSharpness, 0.6, 5}},
    {{Op::kColor, 0.7, 7}, {Op::kTranslateX, 0.5, 8}},
    {{Op::kEqualize, 0.3, -1}, {Op::kAutoContrast, 0.4, -1}},
    {{Op::kTranslateY, 0.4, 3}, {Op::kSharpness, 0.2, 6}},
    {{Op::kBrightness, 0.9, 6}, {Op::kColor, 0.2, 8}},
    {{Op::kSolarize, 0.5, 2}, {Op::kInvert, 0.0, -1}},
    {{Op::kEqualize, 0.2, -1}, {Op::kAutoContrast, 0.6, -1}},
    {{Op::kEqualize, 0.2, -1}, {Op::kEqualize, 0.6, -1}},
    {{Op::kColor, 0.9, 9}, {Op::kEqualize, 0.6, -1}},
    {{Op::kAutoContrast, 0.8, -1}, {Op::kSolarize, 0.2, 8}},
    {{Op::kBrightness, 0.1, 3}, {Op::kColor, 0.7, 0}},
    {{Op::kSolarize, 0.4, 5}, {Op::kAutoContrast, 0.9, -1}},
    {{Op::kTranslateY, 0.9, 9}, {Op::kTranslateY, 0.7, 9}},
    {{Op::kAutoContrast, 0.9, -1}, {Op::kSolarize, 0.8, 3}},
    {{Op::kEqualize, 0.8, -1}, {Op::kInvert, 0.1, -1}},
    {{Op::kTranslateY, 0.7, 9}, {Op::kAutoContrast, 0.9, -1}},
};

// AutoAugment's ImageNet policy (Cubuk et al. 2019), in the order
// torchvision's AutoAugmentPolicy.IMAGENET lists it.
const SubPolicy kImageNetPolicy[25] = {
    {{Op::kPosterize, 0.4, 8}, {Op::kRotate, 0.6, 9}},
    {{Op::kSolarize, 0.6, 5}, {Op::kAutoContrast, 0.6, -1}},
    {{Op::kEqualize, 0.8, -1}, {Op::kEqualize, 0.6, -1}},
    {{Op::kPosterize, 0.6, 7}, {Op::kPosterize, 0.6, 6}},
    {{Op::kEqualize, 0.4, -1}, {Op::kSolarize, 0.2, 4}},
    {{Op::kEqualize, 0.4, -1}, {Op::kRotate, 0.8, 8}},
    {{Op::kSolarize, 0.6, 3}, {Op::kEqualize, 0.6, -1}},
    {{Op::kPosterize, 0.8, 5}, {Op::kEqualize, 1.0, -1}},
    {{Op::kRotate, 0.2, 3}, {Op::kSolarize, 0.6, 8}},
    {{Op::kEqualize, 0.6, -1}, {Op::kPosterize, 0.4, 6}},
    {{Op::kRotate, 0.8, 8}, {Op::kColor, 0.4, 0}},
    {{Op::kRotate, 0.4, 9}, {Op::kEqualize, 0.6, -1}},
    {{Op::kEqualize, 0.0, -1}, {Op::kEqualize, 0.8, -1}},
    {{Op::kInvert, 0.6, -1}, {Op::kEqualize, 1.0, -1}},
    {{Op::kColor, 0.6, 4}, {Op::kContrast, 1.0, 8}},
    {{Op::kRotate, 0.8, 8}, {Op::kColor, 1.0, 2}},
    {{Op::kColor, 0.8, 8}, {Op::kSolarize, 0.8, 7}},
    {{Op::kSharpness, 0.4, 7}, {Op::kInvert, 0.6, -1}},
    {{Op::kShearX, 0.6, 5}, {Op::kEqualize, 1.0, -1}},
    {{Op::kColor, 0.4, 0}, {Op::kEqualize, 0.6, -1}},
    {{Op::kEqualize, 0.4, -1}, {Op::kSolarize, 0.2, 4}},
    {{Op::kSolarize, 0.6, 5}, {Op::kAutoContrast, 0.6, -1}},
    {{Op::kInvert, 0.6, -1}, {Op::kEqualize, 1.0, -1}},
    {{Op::kColor, 0.6, 4}, {Op::kContrast, 1.0, 8}},
    {{Op::kEqualize, 0.8, -1}, {Op::kEqualize, 0.6, -1}},
};

// One AutoAugment draw from a 25-entry policy table: the sub-policy, both
// ops' probabilities, then both signs, as torchvision draws them.
Transform auto_augment(const SubPolicy (&table)[25]) {
  const SubPolicy* t = table;
  return [t](Image& image, Rng& rng) {
    const SubPolicy& policy = t[rng.below(25)];
    const double probs[2] = {rng.uniform(), rng.uniform()};
    const bool negative[2] = {rng.below(2) == 0, rng.below(2) == 0};
    const SubOp* ops[2] = {&policy.first, &policy.second};
    for (int i = 0; i < 2; ++i) {
      if (probs[i] <= ops[i]->p) {
        bool is_signed = false;
        double m = 0.0;
        if (ops[i]->bin >= 0) {
          m = magnitude_of(
              ops[i]->op,
              ops[i]->bin,
              10,
              image.height,
              image.width,
              &is_signed);
        }
        if (is_signed && negative[i]) {
          m = -m;
        }
        apply_op(image, ops[i]->op, m);
      }
    }
  };
}

// RandAugment's op set, in torchvision's order.
const Op kRandAugmentOps[14] = {
    Op::kIdentity,
    Op::kShearX,
    Op::kShearY,
    Op::kTranslateX,
    Op::kTranslateY,
    Op::kRotate,
    Op::kBrightness,
    Op::kColor,
    Op::kContrast,
    Op::kSharpness,
    Op::kPosterize,
    Op::kSolarize,
    Op::kAutoContrast,
    Op::kEqualize,
};

}  // namespace

Transform auto_augment_cifar10() {
  return auto_augment(kCifar10Policy);
}

Transform auto_augment_imagenet() {
  return auto_augment(kImageNetPolicy);
}

Transform rand_augment(int num_ops, int magnitude, int num_bins) {
  if (num_ops < 0) {
    fail("RandAugment - num_ops must be >= 0: {{got {}}}", num_ops);
  }
  if (num_bins < 2) {
    fail("RandAugment - num_bins must be >= 2: {{got {}}}", num_bins);
  }
  if (magnitude < 0 || magnitude >= num_bins) {
    fail(
        "RandAugment - magnitude must be in [0, {}]: {{got {}}}",
        num_bins - 1,
        magnitude);
  }
  return [=](Image& image, Rng& rng) {
    for (int k = 0; k < num_ops; ++k) {
      const Op op = kRandAugmentOps[rng.below(14)];
      bool is_signed = false;
      double m = magnitude_of(
          op, magnitude, num_bins, image.height, image.width, &is_signed);
      if (is_signed && rng.below(2) == 1) {
        m = -m;
      }
      apply_op(image, op, m);
    }
  };
}

}  // namespace ltcl::augment
