#pragma once
// A decoded image: 8-bit, interleaved H x W x C (C = 1 or 3), row-major.
// Kept free of torch and OpenCV so that every layer can include it cheaply.
#include <cstdint>
#include <vector>

namespace ltcl::data {

struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // size = height * width * channels

  Image() = default;
  Image(int h, int w, int c)
      : height(h),
        width(w),
        channels(c),
        pixels(static_cast<size_t>(h) * w * c) {}

  size_t size() const {
    return pixels.size();
  }
  uint8_t* data() {
    return pixels.data();
  }
  const uint8_t* data() const {
    return pixels.data();
  }
  uint8_t& at(int y, int x, int c) {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  uint8_t at(int y, int x, int c) const {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

}  // namespace ltcl::data
