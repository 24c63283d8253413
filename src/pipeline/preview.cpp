#include "ltcl/pipeline/preview.h"

#include <algorithm>

#include "ltcl/util/error.h"

namespace ltcl::pipeline {

data::Image preview_grid(
    const MultiViewDataset& views,
    const std::vector<int64_t>& indices,
    const PreviewOptions& options) {
  if (indices.empty()) {
    fail("preview_grid - no samples to show");
  }
  if (options.scale < 0 || options.gap < 0) {
    fail(
        "preview_grid - scale and gap must be >= 0: {{got {}, {}}}",
        options.scale,
        options.gap);
  }
  const size_t cols = views.num_views();
  std::vector<std::vector<data::Image>> cells;
  int largest = 1;
  int channels = 1;
  for (size_t r = 0; r < indices.size(); ++r) {
    DrawKey key;
    key.seed = options.seed;
    key.epoch = options.epoch;
    key.position = static_cast<int64_t>(r);
    key.index = indices[r];
    cells.push_back(views.augment(key, nullptr));
    for (const auto& im : cells.back()) {
      largest = std::max({largest, im.height, im.width});
      channels = std::max(channels, im.channels);
    }
  }
  const int scale = options.scale > 0
                        ? options.scale
                        : std::max(1, (96 + largest - 1) / largest);
  std::vector<int> col_w(cols, 0);
  std::vector<int> row_h(cells.size(), 0);
  for (size_t r = 0; r < cells.size(); ++r) {
    for (size_t c = 0; c < cols; ++c) {
      col_w[c] = std::max(col_w[c], cells[r][c].width * scale);
      row_h[r] = std::max(row_h[r], cells[r][c].height * scale);
    }
  }
  int width = options.gap;
  for (int w : col_w) {
    width += w + options.gap;
  }
  int height = options.gap;
  for (int h : row_h) {
    height += h + options.gap;
  }
  data::Image grid(height, width, channels);
  std::fill(grid.pixels.begin(), grid.pixels.end(), options.background);
  int y0 = options.gap;
  for (size_t r = 0; r < cells.size(); ++r) {
    int x0 = options.gap;
    for (size_t c = 0; c < cols; ++c) {
      const data::Image& im = cells[r][c];
      for (int y = 0; y < im.height * scale; ++y) {
        for (int x = 0; x < im.width * scale; ++x) {
          for (int k = 0; k < channels; ++k) {
            grid.at(y0 + y, x0 + x, k) =
                im.at(y / scale, x / scale, im.channels == 1 ? 0 : k);
          }
        }
      }
      x0 += col_w[c] + options.gap;
    }
    y0 += row_h[r] + options.gap;
  }
  return grid;
}

}  // namespace ltcl::pipeline
