#pragma once
// Image transforms with torchvision 0.14's semantics, on uint8 HWC images.
//
// A Transform is a small function object `void(Image&, Rng&)`: it replaces
// the image in place (reallocating only when the size changes) and draws
// every random parameter from the Rng it is given, so the same stream always
// gives the same result. Build them with the factories below (they validate
// their options and throw ltcl::Error naming the transform and the value) and
// chain them with compose({...}).
//
// Images have 1 (gray) or 3 (RGB) channels. On 1-channel images the
// colour-only operations (saturation, hue, grayscale) leave the image as it is
// (as torchvision does), but still draw their random numbers.
//
// The pixel work is OpenCV core/imgproc. Where torchvision's tensor path
// truncates a float result to uint8, the blends here round to nearest
// (OpenCV's saturate_cast); results differ from torchvision by at most one
// grey level, never in the distribution of the random parameters.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ltcl/util/random.h"
#include "ltcl/data/image.h"

namespace ltcl::augment {

using data::Image;
using util::Rng;  // transforms draw from the shared generator
using Transform = std::function<void(Image& image, Rng& rng)>;

// Applies `transforms` in order.
Transform compose(std::vector<Transform> transforms);

// Pads by `padding` on every side with `fill`, then crops a size x size window
// at a uniformly random position (torchvision RandomCrop, padding_mode
// constant). With pad_if_needed, images smaller than `size` are first padded.
Transform random_crop(
    int size, int padding = 0, int fill = 0, bool pad_if_needed = false);

// Mirrors left-right with probability p.
Transform random_horizontal_flip(double p = 0.5);

// torchvision RandomResizedCrop: up to 10 tries of area fraction ~ U(scale)
// and log aspect ratio ~ U(log ratio); the first window that fits is taken at
// a uniform position; otherwise a centre crop clamped to `ratio`. The window
// is resized to size x size, bilinear (area-averaging when both sides shrink,
// as PIL's antialiased bilinear does).
Transform random_resized_crop(
    int size,
    std::pair<double, double> scale = {0.08, 1.0},
    std::pair<double, double> ratio = {3.0 / 4.0, 4.0 / 3.0});

// torchvision ColorJitter. brightness/contrast/saturation b >= 0 draw a
// factor ~ U(max(0, 1 - b), 1 + b); hue h in [0, 0.5] draws ~ U(-h, h). A zero
// option is off. The four are applied in a random order (a permutation drawn
// first, then the factors, as torchvision's get_params does).
Transform color_jitter(
    double brightness,
    double contrast = 0,
    double saturation = 0,
    double hue = 0);

// With probability p, replaces RGB by its ITU-R 601-2 luma in all 3 channels.
Transform random_grayscale(double p = 0.1);

// torchvision GaussianBlur: sigma ~ U(sigma_min, sigma_max), then a
// separable kernel_size x kernel_size Gaussian (weights exp(-x^2 / (2
// sigma^2)), x = -(k-1)/2 .. (k-1)/2, normalised) with reflect padding
// (OpenCV's BORDER_REFLECT_101 = torch's "reflect"). kernel_size odd >= 1,
// 0 < sigma_min <= sigma_max. The Gaussian blur of MoCo v2 / PaCo's second
// view (sigma 0.1 .. 2).
Transform gaussian_blur(int kernel_size, double sigma_min = 0.1, double sigma_max = 2.0);

// Applies `transform` with probability p.
Transform random_apply(Transform transform, double p);

// The random draws of random_crop, random_resized_crop and color_jitter, in
// the order those transforms make them. The batched recipes of
// pipeline/device_augment.h draw through these, so from equally keyed
// generators both paths get the same parameters.
struct CropWindow {
  int top = 0;   // in the padded image
  int left = 0;
};
// A size x size window of a padded_height x padded_width image (no draw when
// the image is already that size).
CropWindow draw_crop(int padded_height, int padded_width, int size, Rng& rng);

struct ResizedCropWindow {
  int top = 0;
  int left = 0;
  int height = 0;
  int width = 0;
};
ResizedCropWindow draw_resized_crop(
    int height,
    int width,
    std::pair<double, double> scale,
    std::pair<double, double> ratio,
    Rng& rng);

struct JitterDraw {
  int order[4] = {0, 1, 2, 3};  // 0 brightness, 1 contrast, 2 saturation, 3 hue
  double factor[4] = {1, 1, 1, 0};  // hue: the shift
};
JitterDraw draw_jitter(
    double brightness, double contrast, double saturation, double hue, Rng& rng);

// AutoAugment with the CIFAR-10 policy (Cubuk et al. 2019): one of the 25
// sub-policies, each of its two ops with its probability, torchvision's 10
// magnitude bins, random sign for signed ops, nearest interpolation, fill 0.
Transform auto_augment_cifar10();
// The same with the ImageNet policy (Posterize, Rotate, Solarize, Equalize,
// Color, Contrast, Invert, Sharpness, ShearX sub-policies).
Transform auto_augment_imagenet();

// RandAugment (Cubuk et al. 2020): num_ops ops drawn uniformly from
// torchvision's 14 (Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness,
// Color, Contrast, Sharpness, Posterize, Solarize, AutoContrast, Equalize) at
// magnitude bin `magnitude` of `num_bins`, random sign for signed ops.
Transform rand_augment(int num_ops = 2, int magnitude = 9, int num_bins = 31);

// Cutout (DeVries & Taylor 2017): `holes` squares of side `length`, centre
// uniform over the image, clipped at the borders, set to 0.
Transform cutout(int holes, int length);

// Resizes so the shorter side is `size` (longer side size * long / short,
// truncated, as torchvision Resize(int)); bilinear / area.
Transform resize(int size);

// Crops the central size x size window (torchvision CenterCrop: offsets
// round((H - size) / 2)); pads with 0 if the image is smaller.
Transform center_crop(int size);

// Per-channel normalisation and conversion to float CHW:
// out[c][y][x] = (pixel / 255 - mean[c]) / std[c], through a 256-entry table
// per channel, written straight into a caller-provided buffer.
class Normalize {
 public:
  // 1 or 3 entries each; std > 0.
  Normalize(std::vector<float> mean, std::vector<float> std);

  // Writes image.channels * height * width floats to `out` (CHW). The image
  // must have as many channels as mean (or mean has 1 entry).
  void to_chw(const Image& image, float* out) const;

  const std::vector<float>& mean() const {
    return mean_;
  }
  const std::vector<float>& std() const {
    return std_;
  }

 private:
  std::vector<float> mean_;
  std::vector<float> std_;
  std::vector<float> table_;  // channels x 256
};

// The deterministic operations the random transforms are built from. Each
// works in place on 1- or 3-channel images; exposed for tests and for users
// who draw their own parameters.
namespace functional {

void hflip(Image& image);
// Window [top, top + height) x [left, left + width); parts outside the image
// are `fill`.
Image crop(
    const Image& image, int top, int left, int height, int width, int fill = 0);
// crop (window inside the image) then resize to out_height x out_width.
Image resized_crop(
    const Image& image,
    int top,
    int left,
    int height,
    int width,
    int out_height,
    int out_width);
Image resize(const Image& image, int out_height, int out_width);
// Blend with black: v * f.
void adjust_brightness(Image& image, double factor);
// Blend with the mean of the grayscale image: v * f + mean * (1 - f).
void adjust_contrast(Image& image, double factor);
// Blend with the grayscale image: v * f + gray * (1 - f). No-op on 1 channel.
void adjust_saturation(Image& image, double factor);
// Rotates hue in HSV by `shift` turns, shift in [-0.5, 0.5]. No-op on 1
// channel.
void adjust_hue(Image& image, double shift);
// ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B, rounded) in every channel.
void to_grayscale(Image& image);
// Blend with the [[1,1,1],[1,5,1],[1,1,1]] / 13 blur (border pixels kept).
void adjust_sharpness(Image& image, double factor);
void posterize(Image& image, int bits);
void solarize(Image& image, double threshold);
void autocontrast(Image& image);
void equalize(Image& image);
void invert(Image& image);
// Affine warps, nearest neighbour, fill 0, output the same size. Shear about
// the top-left corner (x' = x + m y, resp. y' = y + m x); rotation by `degrees`
// counter-clockwise about the centre; translation by whole pixels.
void shear_x(Image& image, double m);
void shear_y(Image& image, double m);
void rotate(Image& image, double degrees);
void translate(Image& image, int dx, int dy);
// Zeroes [y0, y1) x [x0, x1) (clipped to the image).
void erase(Image& image, int y0, int x0, int y1, int x1);

}  // namespace functional

}  // namespace ltcl::augment
