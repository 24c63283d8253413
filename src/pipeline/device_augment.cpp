#include "ltcl/pipeline/device_augment.h"

#include <cmath>

#include <torch/torch.h>

#include "ltcl/util/error.h"

namespace ltcl::pipeline {
namespace {

constexpr int kCropPadding = 4;  // cifar_weak's RandomCrop(size, 4)

// Source coordinates of a batch resampled to S x S, separably: output row j
// of sample b blends rows y0[b, j] and y1[b, j] with weight wy[b, j] (0:
// all y0), and likewise for columns.
struct Grid {
  std::vector<int64_t> y0, y1, x0, x1;
  std::vector<float> wy, wx;
  explicit Grid(size_t n) : y0(n), y1(n), x0(n), x1(n), wy(n), wx(n) {}
};

// OpenCV's INTER_LINEAR source position of output j when `in` pixels are
// resized to `out` (half-pixel centres, clamped at the window's edges):
// first pixel, second pixel, weight of the second.
void linear_source(int j, int in, int out, int64_t* a, int64_t* b, float* w) {
  const double s = (j + 0.5) * (static_cast<double>(in) / out) - 0.5;
  int x = static_cast<int>(std::floor(s));
  double f = s - x;
  if (x < 0) {
    x = 0;
    f = 0;
  }
  if (x >= in - 1) {
    x = in - 1;
    f = 0;
  }
  *a = x;
  *b = std::min(x + 1, in - 1);
  *w = static_cast<float>(f);
}

at::Tensor resample(
    const at::Tensor& img,
    const Grid& g,
    int64_t size,
    bool interpolate) {
  const int64_t b = img.size(0);
  const int64_t c = img.size(1);
  const int64_t w = img.size(3);
  const auto dev = img.device();
  auto idx = [&](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::kLong).view({b, size}).to(dev);
  };
  auto weight = [&](const std::vector<float>& v) {
    return torch::tensor(v, torch::kFloat).view({b, size}).to(dev);
  };
  auto rows = [&](const std::vector<int64_t>& v) {
    return img.gather(2, idx(v).view({b, 1, size, 1}).expand({b, c, size, w}));
  };
  at::Tensor r = rows(g.y0);
  if (interpolate) {
    r = r + (rows(g.y1) - r) * weight(g.wy).view({b, 1, size, 1});
  }
  auto cols = [&](const std::vector<int64_t>& v) {
    return r.gather(
        3, idx(v).view({b, 1, 1, size}).expand({b, c, size, size}));
  };
  at::Tensor out = cols(g.x0);
  if (interpolate) {
    out = out + (cols(g.x1) - out) * weight(g.wx).view({b, 1, 1, size});
  }
  return out;
}

// ITU-R 601-2 luma of [B, 3, S, S] as [B, 1, S, S] (the gray image itself
// for one channel).
at::Tensor luma(const at::Tensor& x) {
  if (x.size(1) == 1) {
    return x;
  }
  return (x.select(1, 0) * 0.299f + x.select(1, 1) * 0.587f +
          x.select(1, 2) * 0.114f)
      .unsqueeze(1);
}

// OpenCV's float RGB -> HSV (H in degrees) -> shift -> RGB, per sample.
at::Tensor shift_hue(const at::Tensor& x, const at::Tensor& shift) {
  const auto r = x.select(1, 0);
  const auto g = x.select(1, 1);
  const auto bl = x.select(1, 2);
  const auto v = torch::max(r, torch::max(g, bl));
  const auto diff = v - torch::min(r, torch::min(g, bl));
  const auto zero = torch::zeros_like(v);
  const auto s = torch::where(v > 0, diff / v, zero);
  auto h = torch::where(
      v == r,
      (g - bl) / diff,
      torch::where(v == g, 2 + (bl - r) / diff, 4 + (r - g) / diff));
  h = torch::where(diff > 0, h * 60, zero);
  h = torch::where(h < 0, h + 360, h);
  h = h + shift.view({-1, 1, 1}) * 360;
  h = h - 360 * torch::floor(h / 360);
  const auto hh = h / 60;
  auto sector = torch::floor(hh);
  const auto f = hh - sector;
  sector = torch::remainder(sector, 6);
  const auto p = v * (1 - s);
  const auto q = v * (1 - s * f);
  const auto t = v * (1 - s * (1 - f));
  auto pick = [&](const std::vector<at::Tensor>& by_sector) {
    at::Tensor out = by_sector[5];
    for (int k = 4; k >= 0; --k) {
      out = torch::where(sector == k, by_sector[k], out);
    }
    return out;
  };
  return torch::stack(
      {pick({v, q, p, p, t, v}), pick({t, v, v, q, p, p}),
       pick({p, p, t, v, v, q})},
      1);
}

}  // namespace

bool has_device_recipe(const std::string& name) {
  return name == "cifar_weak" || name == "simclr";
}

DeviceRecipe make_device_recipe(
    const std::string& name, const augment::DatasetStats& stats) {
  if (!has_device_recipe(name)) {
    fail(
        "device augmentation - recipe '{}' has no batched form (cifar_weak "
        "and simclr have; the others run on the CPU loader)",
        name);
  }
  const augment::Recipe cpu = augment::make_recipe(name, stats);
  if (stats.large() || stats.height != stats.width ||
      stats.height != cpu.height) {
    fail(
        "device augmentation - recipe '{}' needs images already at its size "
        "{}x{}: {{dataset '{}' is {}x{}}}",
        name,
        cpu.height,
        cpu.width,
        stats.name,
        stats.height,
        stats.width);
  }
  DeviceRecipe r;
  r.name = name;
  r.kind = name == "cifar_weak" ? DeviceRecipe::Kind::kCropFlip
                                : DeviceRecipe::Kind::kSimclr;
  r.size = cpu.height;
  r.channels = cpu.channels;
  r.mean = cpu.normalize.mean();
  r.std = cpu.normalize.std();
  return r;
}

ViewDraw draw_view(const DeviceRecipe& recipe, util::Rng& rng) {
  // The draws of make_recipe's transforms, in their order.
  ViewDraw d;
  const int s = recipe.size;
  if (recipe.kind == DeviceRecipe::Kind::kCropFlip) {
    const int padded = s + 2 * kCropPadding;
    const augment::CropWindow c = augment::draw_crop(padded, padded, s, rng);
    d.window = {c.top, c.left, s, s};
    d.flip = rng.bernoulli(0.5);
    return d;
  }
  d.window = augment::draw_resized_crop(
      s, s, {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, rng);
  d.flip = rng.bernoulli(0.5);
  d.jitter = rng.bernoulli(0.8);
  if (d.jitter) {
    d.colour = augment::draw_jitter(0.4, 0.4, 0.4, 0.1, rng);
  }
  d.gray = rng.bernoulli(0.2);
  return d;
}

at::Tensor apply_device_recipe(
    const DeviceRecipe& recipe,
    const at::Tensor& images,
    const std::vector<ViewDraw>& draws) {
  const int64_t s = recipe.size;
  const int64_t c = recipe.channels;
  if (images.dim() != 4 || images.size(1) != c || images.size(2) != s ||
      images.size(3) != s || images.scalar_type() != torch::kByte ||
      static_cast<size_t>(images.size(0)) != draws.size()) {
    fail(
        "apply_device_recipe - '{}' expects uint8 [{}, {}, {}, {}]: {{got "
        "[{}] {}}}",
        recipe.name,
        draws.size(),
        c,
        s,
        s,
        fmt::join(images.sizes(), ", "),
        c10::toString(images.scalar_type()));
  }
  const int64_t b = images.size(0);
  const auto dev = images.device();
  torch::NoGradGuard no_grad;
  if (b == 0) {
    return torch::empty({0, c, s, s}, torch::TensorOptions(dev));
  }
  Grid grid(static_cast<size_t>(b * s));
  const bool crop = recipe.kind == DeviceRecipe::Kind::kCropFlip;
  for (int64_t i = 0; i < b; ++i) {
    const auto& w = draws[i].window;
    for (int64_t j = 0; j < s; ++j) {
      const size_t k = static_cast<size_t>(i * s + j);
      const int64_t jx = draws[i].flip ? s - 1 - j : j;
      if (crop) {
        grid.y0[k] = grid.y1[k] = w.top + j;
        grid.x0[k] = grid.x1[k] = w.left + jx;
        continue;
      }
      linear_source(
          static_cast<int>(j), w.height, static_cast<int>(s), &grid.y0[k],
          &grid.y1[k], &grid.wy[k]);
      linear_source(
          static_cast<int>(jx), w.width, static_cast<int>(s), &grid.x0[k],
          &grid.x1[k], &grid.wx[k]);
      grid.y0[k] += w.top;
      grid.y1[k] += w.top;
      grid.x0[k] += w.left;
      grid.x1[k] += w.left;
    }
  }
  if (crop) {
    // Integer gathers of the zero-padded images, then the CPU's own
    // normalisation table: the loader's values, bit for bit.
    const at::Tensor padded = torch::constant_pad_nd(
        images, {kCropPadding, kCropPadding, kCropPadding, kCropPadding}, 0);
    const at::Tensor u8 = resample(padded, grid, s, /*interpolate=*/false);
    std::vector<float> table(static_cast<size_t>(c) * 256);
    for (int64_t ch = 0; ch < c; ++ch) {
      const size_t m = recipe.mean.size() == 1 ? 0 : static_cast<size_t>(ch);
      for (int v = 0; v < 256; ++v) {
        table[ch * 256 + v] = (v / 255.0f - recipe.mean[m]) / recipe.std[m];
      }
    }
    const at::Tensor t = torch::tensor(table).to(dev);
    const at::Tensor offset =
        (torch::arange(c, torch::TensorOptions(dev).dtype(torch::kLong)) * 256)
            .view({1, c, 1, 1});
    return torch::take(t, u8.to(torch::kLong) + offset);
  }
  at::Tensor x = resample(images.to(torch::kFloat), grid, s, true) / 255.0f;
  // Colour jitter in each sample's own order, then grayscale.
  std::vector<float> factor[4];
  std::vector<uint8_t> gray(b);
  for (auto& f : factor) {
    f.resize(b);
  }
  for (int64_t i = 0; i < b; ++i) {
    for (int k = 0; k < 4; ++k) {
      factor[k][i] = static_cast<float>(draws[i].colour.factor[k]);
    }
    gray[i] = draws[i].gray;
  }
  auto per_sample = [&](const std::vector<float>& v) {
    return torch::tensor(v).view({b, 1, 1, 1}).to(dev);
  };
  const at::Tensor fb = per_sample(factor[0]);
  const at::Tensor fc = per_sample(factor[1]);
  const at::Tensor fs = per_sample(factor[2]);
  const at::Tensor fh = per_sample(factor[3]);
  for (int slot = 0; slot < 4; ++slot) {
    for (int op = 0; op < 4; ++op) {
      if (c == 1 && op >= 2) {
        continue;  // saturation and hue leave gray images as they are
      }
      std::vector<uint8_t> mask(b);
      bool any = false;
      for (int64_t i = 0; i < b; ++i) {
        mask[i] = draws[i].jitter && draws[i].colour.order[slot] == op;
        any = any || mask[i];
      }
      if (!any) {
        continue;
      }
      at::Tensor y;
      switch (op) {
        case 0:
          y = x * fb;
          break;
        case 1:
          y = x * fc + luma(x).mean({1, 2, 3}, true) * (1 - fc);
          break;
        case 2:
          y = x * fs + luma(x) * (1 - fs);
          break;
        default:
          y = shift_hue(x, fh);
      }
      const at::Tensor m =
          torch::tensor(std::vector<int64_t>(mask.begin(), mask.end()))
              .to(torch::kBool)
              .view({b, 1, 1, 1})
              .to(dev);
      x = torch::where(m, y.clamp(0, 1), x);
    }
  }
  if (c == 3) {
    const at::Tensor m =
        torch::tensor(std::vector<int64_t>(gray.begin(), gray.end()))
            .to(torch::kBool)
            .view({b, 1, 1, 1})
            .to(dev);
    x = torch::where(m, luma(x).expand({b, 3, s, s}), x);
  }
  std::vector<float> mean(c), std(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const size_t m = recipe.mean.size() == 1 ? 0 : static_cast<size_t>(ch);
    mean[ch] = recipe.mean[m];
    std[ch] = recipe.std[m];
  }
  return (x - torch::tensor(mean).view({1, c, 1, 1}).to(dev)) /
      torch::tensor(std).view({1, c, 1, 1}).to(dev);
}

}  // namespace ltcl::pipeline
