#pragma once
// A picture of what the recipes do: one row per sample, one column per view.
#include <cstdint>
#include <vector>

#include "ltcl/pipeline/multi_view.h"

namespace ltcl::pipeline {

struct PreviewOptions {
  uint64_t seed = 0;
  int64_t epoch = 0;
  // Integer upscale of every cell (nearest); 0 = enough for cells of at
  // least 96 pixels.
  int scale = 0;
  int gap = 2;  // pixels between cells
  uint8_t background = 255;
};

// Augments each of `indices` through every view of `views` (streams as the
// loader's, position = row) and tiles the uint8 results: rows = samples,
// columns = views, each cell as large as the largest view in its column.
// Gray views in an RGB grid are replicated to 3 channels.
data::Image preview_grid(
    const MultiViewDataset& views,
    const std::vector<int64_t>& indices,
    const PreviewOptions& options = {});

}  // namespace ltcl::pipeline
