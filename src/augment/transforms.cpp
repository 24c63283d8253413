#include "ltcl/augment/transforms.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "ltcl/util/error.h"

namespace ltcl::augment {

namespace {

cv::Mat as_mat(Image& image) {
  return cv::Mat(
      image.height, image.width, CV_8UC(image.channels), image.data());
}

cv::Mat as_mat(const Image& image) {
  return as_mat(const_cast<Image&>(image));
}

void check_image(const Image& image, const char* who) {
  if (image.height <= 0 || image.width <= 0 ||
      (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() !=
          static_cast<size_t>(image.height) * image.width * image.channels) {
    fail(
        "{} - expected a non-empty 1- or 3-channel image: {{got {}x{}x{}, {} "
        "bytes}}",
        who,
        image.height,
        image.width,
        image.channels,
        image.pixels.size());
  }
}

void check_probability(double p, const char* who) {
  if (!(p >= 0.0 && p <= 1.0)) {
    fail("{} - probability p must be in [0, 1]: {{got {}}}", who, p);
  }
}

void check_positive(int v, const char* who, const char* what) {
  if (v <= 0) {
    fail("{} - {} must be positive: {{got {}}}", who, what, v);
  }
}

// Applies a per-channel (or shared) 256-entry table in place.
void apply_lut(Image& image, const std::array<std::array<uint8_t, 256>, 3>& t) {
  uint8_t* p = image.data();
  const size_t n = image.size();
  if (image.channels == 1) {
    for (size_t i = 0; i < n; ++i) {
      p[i] = t[0][p[i]];
    }
  } else {
    for (size_t i = 0; i < n; i += 3) {
      p[i] = t[0][p[i]];
      p[i + 1] = t[1][p[i + 1]];
      p[i + 2] = t[2][p[i + 2]];
    }
  }
}

// out = a * f + b * (1 - f), rounded and clamped to [0, 255].
void blend_into(Image& a, const cv::Mat& b, double f) {
  cv::Mat ma = as_mat(a);
  cv::addWeighted(ma, f, b, 1.0 - f, 0.0, ma);
}

cv::Mat gray_of(const Image& image) {
  cv::Mat gray;
  cv::cvtColor(as_mat(image), gray, cv::COLOR_RGB2GRAY);
  return gray;
}

void warp(Image& image, const cv::Matx23d& forward) {
  Image out(image.height, image.width, image.channels);
  cv::Mat dst = as_mat(out);
  cv::warpAffine(
      as_mat(image),
      dst,
      cv::Mat(forward),
      dst.size(),
      cv::INTER_NEAREST,
      cv::BORDER_CONSTANT,
      cv::Scalar::all(0));
  image = std::move(out);
}

}  // namespace

// ---------------------------------------------------------------------------
// functional
// ---------------------------------------------------------------------------
namespace functional {

void hflip(Image& image) {
  cv::Mat m = as_mat(image);
  cv::flip(m, m, 1);
}

Image crop(
    const Image& image, int top, int left, int height, int width, int fill) {
  Image out(height, width, image.channels);
  cv::Mat dst = as_mat(out);
  const int y0 = std::max(top, 0);
  const int x0 = std::max(left, 0);
  const int y1 = std::min(top + height, image.height);
  const int x1 = std::min(left + width, image.width);
  const bool inside =
      top >= 0 && left >= 0 && y1 == top + height && x1 == left + width;
  if (!inside) {
    dst.setTo(cv::Scalar::all(fill));
  }
  if (y1 > y0 && x1 > x0) {
    as_mat(image)(cv::Rect(x0, y0, x1 - x0, y1 - y0))
        .copyTo(dst(cv::Rect(x0 - left, y0 - top, x1 - x0, y1 - y0)));
  }
  return out;
}

Image resize(const Image& image, int out_height, int out_width) {
  Image out(out_height, out_width, image.channels);
  cv::Mat dst = as_mat(out);
  const bool shrink = out_height <= image.height && out_width <= image.width;
  cv::resize(
      as_mat(image),
      dst,
      dst.size(),
      0,
      0,
      shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

Image resized_crop(
    const Image& image,
    int top,
    int left,
    int height,
    int width,
    int out_height,
    int out_width) {
  Image out(out_height, out_width, image.channels);
  cv::Mat dst = as_mat(out);
  cv::Mat src = as_mat(image)(cv::Rect(left, top, width, height));
  if (height == out_height && width == out_width) {
    src.copyTo(dst);
    return out;
  }
  const bool shrink = out_height <= height && out_width <= width;
  cv::resize(
      src, dst, dst.size(), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

void adjust_brightness(Image& image, double factor) {
  cv::Mat m = as_mat(image);
  m.convertTo(m, -1, factor, 0.0);
}

void adjust_contrast(Image& image, double factor) {
  const double mean = image.channels == 1 ? cv::mean(as_mat(image))[0]
                                          : cv::mean(gray_of(image))[0];
  cv::Mat m = as_mat(image);
  m.convertTo(m, -1, factor, (1.0 - factor) * mean);
}

void adjust_saturation(Image& image, double factor) {
  if (image.channels == 1) {
    return;
  }
  cv::Mat gray3;
  cv::cvtColor(gray_of(image), gray3, cv::COLOR_GRAY2RGB);
  blend_into(image, gray3, factor);
}

void adjust_hue(Image& image, double shift) {
  if (image.channels == 1 || shift == 0.0) {
    return;
  }
  cv::Mat hsv;
  as_mat(image).convertTo(hsv, CV_32F, 1.0 / 255.0);
  cv::cvtColor(hsv, hsv, cv::COLOR_RGB2HSV_FULL);  // H in [0, 360)
  const float delta = static_cast<float>(shift * 360.0);
  const int n = hsv.rows * hsv.cols;
  float* p = hsv.ptr<float>();
  for (int i = 0; i < n; ++i) {
    float h = p[3 * i] + delta;
    h -= 360.0f * std::floor(h / 360.0f);
    p[3 * i] = h;
  }
  cv::cvtColor(hsv, hsv, cv::COLOR_HSV2RGB_FULL);
  cv::Mat m = as_mat(image);
  hsv.convertTo(m, CV_8U, 255.0);
}

void to_grayscale(Image& image) {
  if (image.channels == 1) {
    return;
  }
  cv::Mat m = as_mat(image);
  cv::cvtColor(gray_of(image), m, cv::COLOR_GRAY2RGB);
}

void adjust_sharpness(Image& image, double factor) {
  if (image.height <= 2 || image.width <= 2) {
    return;
  }
  cv::Mat src = as_mat(image);
  cv::Mat kernel = (cv::Mat_<float>(3, 3) << 1, 1, 1, 1, 5, 1, 1, 1, 1) / 13.f;
  cv::Mat blurred = src.clone();
  // The blur of interior pixels only; the 1-pixel border keeps the original.
  cv::Mat inner = blurred(cv::Rect(1, 1, image.width - 2, image.height - 2));
  cv::Mat tmp;
  cv::filter2D(src, tmp, -1, kernel, cv::Point(-1, -1), 0, cv::BORDER_REFLECT);
  tmp(cv::Rect(1, 1, image.width - 2, image.height - 2)).copyTo(inner);
  blend_into(image, blurred, factor);
}

void posterize(Image& image, int bits) {
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - bits));
  std::array<std::array<uint8_t, 256>, 3> t;
  for (int v = 0; v < 256; ++v) {
    t[0][v] = t[1][v] = t[2][v] = static_cast<uint8_t>(v & mask);
  }
  apply_lut(image, t);
}

void solarize(Image& image, double threshold) {
  std::array<std::array<uint8_t, 256>, 3> t;
  for (int v = 0; v < 256; ++v) {
    t[0][v] = t[1][v] = t[2][v] =
        static_cast<uint8_t>(v >= threshold ? 255 - v : v);
  }
  apply_lut(image, t);
}

void autocontrast(Image& image) {
  std::vector<cv::Mat> planes;
  cv::split(as_mat(image), planes);
  std::array<std::array<uint8_t, 256>, 3> t;
  for (int c = 0; c < image.channels; ++c) {
    double lo = 0;
    double hi = 0;
    cv::minMaxLoc(planes[c], &lo, &hi);
    for (int v = 0; v < 256; ++v) {
      if (hi == lo) {
        t[c][v] = static_cast<uint8_t>(v);
      } else {
        // torchvision: clamp((v - min) * 255 / (max - min)), truncated.
        const double x = (v - lo) * 255.0 / (hi - lo);
        t[c][v] = static_cast<uint8_t>(std::clamp(x, 0.0, 255.0));
      }
    }
  }
  apply_lut(image, t);
}

void equalize(Image& image) {
  const int c_count = image.channels;
  std::array<std::array<int64_t, 256>, 3> hist{};
  const uint8_t* p = image.data();
  const size_t n = image.size();
  for (size_t i = 0; i < n; ++i) {
    ++hist[i % c_count][p[i]];
  }
  std::array<std::array<uint8_t, 256>, 3> t;
  for (int c = 0; c < c_count; ++c) {
    // PIL / torchvision: step = (sum of the non-zero bins but the last) / 255;
    // lut[v] = (cumsum before v + step / 2) / step.
    int last = 255;
    while (last > 0 && hist[c][last] == 0) {
      --last;
    }
    int64_t total_but_last = 0;
    for (int v = 0; v < last; ++v) {
      total_but_last += hist[c][v];
    }
    const int64_t step = total_but_last / 255;
    int64_t cum = 0;
    for (int v = 0; v < 256; ++v) {
      if (step == 0) {
        t[c][v] = static_cast<uint8_t>(v);
        continue;
      }
      t[c][v] =
          static_cast<uint8_t>(std::min<int64_t>((cum + step / 2) / step, 255));
      cum += hist[c][v];
    }
  }
  apply_lut(image, t);
}

void invert(Image& image) {
  cv::Mat m = as_mat(image);
  cv::bitwise_not(m, m);
}

void shear_x(Image& image, double m) {
  warp(image, cv::Matx23d(1, m, 0, 0, 1, 0));
}

void shear_y(Image& image, double m) {
  warp(image, cv::Matx23d(1, 0, 0, m, 1, 0));
}

void rotate(Image& image, double degrees) {
  const cv::Point2f centre((image.width - 1) * 0.5f, (image.height - 1) * 0.5f);
  cv::Mat r = cv::getRotationMatrix2D(centre, degrees, 1.0);
  warp(image, cv::Matx23d(r));
}

void translate(Image& image, int dx, int dy) {
  image = crop(image, -dy, -dx, image.height, image.width, 0);
}

void erase(Image& image, int y0, int x0, int y1, int x1) {
  y0 = std::clamp(y0, 0, image.height);
  y1 = std::clamp(y1, 0, image.height);
  x0 = std::clamp(x0, 0, image.width);
  x1 = std::clamp(x1, 0, image.width);
  if (y1 <= y0 || x1 <= x0) {
    return;
  }
  as_mat(image)(cv::Rect(x0, y0, x1 - x0, y1 - y0)).setTo(cv::Scalar::all(0));
}

}  // namespace functional

// ---------------------------------------------------------------------------
// Random transforms
// ---------------------------------------------------------------------------

Transform compose(std::vector<Transform> transforms) {
  for (size_t i = 0; i < transforms.size(); ++i) {
    if (!transforms[i]) {
      fail("compose - transform {} of {} is empty", i, transforms.size());
    }
  }
  return [ts = std::move(transforms)](Image& image, Rng& rng) {
    for (const auto& t : ts) {
      t(image, rng);
    }
  };
}

Transform random_crop(int size, int padding, int fill, bool pad_if_needed) {
  check_positive(size, "RandomCrop", "size");
  if (padding < 0) {
    fail("RandomCrop - padding must be >= 0: {{got {}}}", padding);
  }
  if (fill < 0 || fill > 255) {
    fail("RandomCrop - fill must be in [0, 255]: {{got {}}}", fill);
  }
  return [=](Image& image, Rng& rng) {
    check_image(image, "RandomCrop");
    int h = image.height + 2 * padding;
    int w = image.width + 2 * padding;
    // pad_if_needed pads both sides by the shortfall (torchvision).
    const int extra_y = pad_if_needed && h < size ? size - h : 0;
    const int extra_x = pad_if_needed && w < size ? size - w : 0;
    h += 2 * extra_y;
    w += 2 * extra_x;
    if (h < size || w < size) {
      fail(
          "RandomCrop - crop size {} larger than the padded image {}x{}",
          size,
          h,
          w);
    }
    const CropWindow at = draw_crop(h, w, size, rng);
    const int top = at.top;
    const int left = at.left;
    if (padding == 0 && extra_x == 0 && extra_y == 0 && h == size &&
        w == size) {
      return;
    }
    image = functional::crop(
        image,
        top - padding - extra_y,
        left - padding - extra_x,
        size,
        size,
        fill);
  };
}

Transform random_horizontal_flip(double p) {
  check_probability(p, "RandomHorizontalFlip");
  return [p](Image& image, Rng& rng) {
    if (rng.bernoulli(p)) {
      functional::hflip(image);
    }
  };
}

Transform random_resized_crop(
    int size,
    std::pair<double, double> scale,
    std::pair<double, double> ratio) {
  check_positive(size, "RandomResizedCrop", "size");
  if (!(scale.first > 0 && scale.first <= scale.second)) {
    fail(
        "RandomResizedCrop - scale must satisfy 0 < lo <= hi: {{got ({}, {})}}",
        scale.first,
        scale.second);
  }
  if (!(ratio.first > 0 && ratio.first <= ratio.second)) {
    fail(
        "RandomResizedCrop - ratio must satisfy 0 < lo <= hi: {{got ({}, {})}}",
        ratio.first,
        ratio.second);
  }
  return [=](Image& image, Rng& rng) {
    check_image(image, "RandomResizedCrop");
    const ResizedCropWindow c =
        draw_resized_crop(image.height, image.width, scale, ratio, rng);
    image = functional::resized_crop(
        image, c.top, c.left, c.height, c.width, size, size);
  };
}

CropWindow draw_crop(int padded_height, int padded_width, int size, Rng& rng) {
  CropWindow at;
  if (padded_height != size || padded_width != size) {
    at.top = static_cast<int>(rng.below(padded_height - size + 1));
    at.left = static_cast<int>(rng.below(padded_width - size + 1));
  }
  return at;
}

ResizedCropWindow draw_resized_crop(
    int height,
    int width,
    std::pair<double, double> scale,
    std::pair<double, double> ratio,
    Rng& rng) {
  const double log_lo = std::log(ratio.first);
  const double log_hi = std::log(ratio.second);
  const double area = static_cast<double>(height) * width;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale.first, scale.second);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int top = static_cast<int>(rng.below(height - h + 1));
      const int left = static_cast<int>(rng.below(width - w + 1));
      return {top, left, h, w};
    }
  }
  // Fallback: the whole image clamped to the ratio range, centred.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width;
  int h = height;
  if (in_ratio < ratio.first) {
    h = static_cast<int>(std::lround(w / ratio.first));
  } else if (in_ratio > ratio.second) {
    w = static_cast<int>(std::lround(h * ratio.second));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

JitterDraw draw_jitter(
    double brightness, double contrast, double saturation, double hue, Rng& rng) {
  // torchvision's get_params: the order first, then each factor.
  JitterDraw d;
  for (int i = 3; i > 0; --i) {
    std::swap(d.order[i], d.order[rng.below(i + 1)]);
  }
  const double values[3] = {brightness, contrast, saturation};
  for (int i = 0; i < 3; ++i) {
    if (values[i] > 0) {
      d.factor[i] = rng.uniform(std::max(0.0, 1.0 - values[i]), 1 + values[i]);
    }
  }
  if (hue > 0) {
    d.factor[3] = rng.uniform(-hue, hue);
  }
  return d;
}

Transform color_jitter(
    double brightness, double contrast, double saturation, double hue) {
  const char* names[3] = {"brightness", "contrast", "saturation"};
  const double values[3] = {brightness, contrast, saturation};
  for (int i = 0; i < 3; ++i) {
    if (!(values[i] >= 0)) {
      fail("ColorJitter - {} must be >= 0: {{got {}}}", names[i], values[i]);
    }
  }
  if (!(hue >= 0 && hue <= 0.5)) {
    fail("ColorJitter - hue must be in [0, 0.5]: {{got {}}}", hue);
  }
  return [=](Image& image, Rng& rng) {
    check_image(image, "ColorJitter");
    const JitterDraw d =
        draw_jitter(brightness, contrast, saturation, hue, rng);
    const double* factor = d.factor;
    for (int k : d.order) {
      switch (k) {
        case 0:
          if (brightness > 0) {
            functional::adjust_brightness(image, factor[0]);
          }
          break;
        case 1:
          if (contrast > 0) {
            functional::adjust_contrast(image, factor[1]);
          }
          break;
        case 2:
          if (saturation > 0) {
            functional::adjust_saturation(image, factor[2]);
          }
          break;
        default:
          if (hue > 0) {
            functional::adjust_hue(image, factor[3]);
          }
      }
    }
  };
}

Transform random_grayscale(double p) {
  check_probability(p, "RandomGrayscale");
  return [p](Image& image, Rng& rng) {
    if (rng.bernoulli(p)) {
      functional::to_grayscale(image);
    }
  };
}

Transform gaussian_blur(int kernel_size, double sigma_min, double sigma_max) {
  if (kernel_size < 1 || kernel_size % 2 == 0) {
    fail("GaussianBlur - kernel_size must be odd and >= 1: {{got {}}}", kernel_size);
  }
  if (!(sigma_min > 0) || !(sigma_max >= sigma_min) || !std::isfinite(sigma_max)) {
    fail(
        "GaussianBlur - sigma must satisfy 0 < min <= max: {{got {} .. {}}}",
        sigma_min,
        sigma_max);
  }
  return [=](Image& image, Rng& rng) {
    check_image(image, "GaussianBlur");
    const double sigma = rng.uniform(sigma_min, sigma_max);
    cv::Mat m = as_mat(image);
    cv::Mat out;
    cv::GaussianBlur(
        m, out, cv::Size(kernel_size, kernel_size), sigma, sigma,
        cv::BORDER_REFLECT_101);
    out.copyTo(m);
  };
}

Transform random_apply(Transform transform, double p) {
  check_probability(p, "RandomApply");
  if (!transform) {
    fail("RandomApply - transform is empty");
  }
  return [t = std::move(transform), p](Image& image, Rng& rng) {
    if (rng.bernoulli(p)) {
      t(image, rng);
    }
  };
}

Transform cutout(int holes, int length) {
  if (holes < 0) {
    fail("Cutout - holes must be >= 0: {{got {}}}", holes);
  }
  check_positive(length, "Cutout", "length");
  return [=](Image& image, Rng& rng) {
    for (int k = 0; k < holes; ++k) {
      const int y = static_cast<int>(rng.below(image.height));
      const int x = static_cast<int>(rng.below(image.width));
      functional::erase(
          image,
          y - length / 2,
          x - length / 2,
          y + length / 2,
          x + length / 2);
    }
  };
}

Transform resize(int size) {
  check_positive(size, "Resize", "size");
  return [size](Image& image, Rng&) {
    check_image(image, "Resize");
    int h = size;
    int w = size;
    if (image.height < image.width) {
      w = static_cast<int>(
          static_cast<int64_t>(size) * image.width / image.height);
    } else if (image.width < image.height) {
      h = static_cast<int>(
          static_cast<int64_t>(size) * image.height / image.width);
    }
    if (h == image.height && w == image.width) {
      return;
    }
    image = functional::resize(image, h, w);
  };
}

Transform center_crop(int size) {
  check_positive(size, "CenterCrop", "size");
  return [size](Image& image, Rng&) {
    check_image(image, "CenterCrop");
    if (image.height == size && image.width == size) {
      return;
    }
    const int top = static_cast<int>(std::lround((image.height - size) / 2.0));
    const int left = static_cast<int>(std::lround((image.width - size) / 2.0));
    image = functional::crop(image, top, left, size, size, 0);
  };
}

// ---------------------------------------------------------------------------
// Normalize
// ---------------------------------------------------------------------------

Normalize::Normalize(std::vector<float> mean, std::vector<float> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  if (mean_.size() != std_.size() || (mean_.size() != 1 && mean_.size() != 3)) {
    fail(
        "Normalize - mean and std need 1 or 3 entries each: {{got {} and {}}}",
        mean_.size(),
        std_.size());
  }
  for (float s : std_) {
    if (!(s > 0)) {
      fail("Normalize - std must be positive: {{got {}}}", s);
    }
  }
  table_.resize(mean_.size() * 256);
  for (size_t c = 0; c < mean_.size(); ++c) {
    for (int v = 0; v < 256; ++v) {
      table_[c * 256 + v] = (v / 255.0f - mean_[c]) / std_[c];
    }
  }
}

void Normalize::to_chw(const Image& image, float* out) const {
  const int channels = image.channels;
  if (mean_.size() != 1 && static_cast<int>(mean_.size()) != channels) {
    fail(
        "Normalize - image has {} channels but mean/std have {} entries",
        channels,
        mean_.size());
  }
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  const uint8_t* src = image.data();
  if (channels == 1) {
    const float* t = table_.data();
    for (size_t i = 0; i < plane; ++i) {
      out[i] = t[src[i]];
    }
    return;
  }
  const float* t0 = table_.data();
  const float* t1 = mean_.size() == 3 ? t0 + 256 : t0;
  const float* t2 = mean_.size() == 3 ? t0 + 512 : t0;
  float* o0 = out;
  float* o1 = out + plane;
  float* o2 = out + 2 * plane;
  for (size_t i = 0; i < plane; ++i) {
    o0[i] = t0[src[3 * i]];
    o1[i] = t1[src[3 * i + 1]];
    o2[i] = t2[src[3 * i + 2]];
  }
}

}  // namespace ltcl::augment
