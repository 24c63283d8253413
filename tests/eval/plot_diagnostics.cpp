// Pixel checks of the reliability diagram, the class scatter and the panels'
// markers and text fitting. Torch-free (no support.h), so it compiles fast.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ltcl/data/image_io.h"
#include "ltcl/eval/plot.h"
#include "ltcl/util/error.h"

namespace {

using ltcl::data::Image;
using ltcl::data::ShotGroup;
using namespace ltcl::eval;

bool is_color(const Image& img, int y, int x, const uint8_t c[3]) {
  return img.at(y, x, 0) == c[0] && img.at(y, x, 1) == c[1] &&
         img.at(y, x, 2) == c[2];
}

bool is_ink(const Image& img, int y, int x) {
  return img.at(y, x, 0) < 250 || img.at(y, x, 1) < 250 ||
         img.at(y, x, 2) < 250;
}

// Pixels of colour c in one column, rows [y0, y1).
int column_count(const Image& img, int x, int y0, int y1, const uint8_t c[3]) {
  int n = 0;
  for (int y = y0; y < y1; ++y) {
    n += is_color(img, y, x, c) ? 1 : 0;
  }
  return n;
}

// Runs of colour c along row y: [x0, x1] pairs, left to right.
std::vector<std::pair<int, int>> row_runs(
    const Image& img, int y, const uint8_t c[3]) {
  std::vector<std::pair<int, int>> runs;
  for (int x = 0; x < img.width; ++x) {
    if (is_color(img, y, x, c)) {
      if (runs.empty() || runs.back().second != x - 1) {
        runs.push_back({x, x});
      } else {
        runs.back().second = x;
      }
    }
  }
  return runs;
}

// The lowest row holding colour c.
int lowest_row(const Image& img, const uint8_t c[3]) {
  for (int y = img.height - 1; y >= 0; --y) {
    for (int x = 0; x < img.width; ++x) {
      if (is_color(img, y, x, c)) {
        return y;
      }
    }
  }
  return -1;
}

// No ink within `margin` pixels of the image border: text that ran off the
// image would leave some there.
void expect_clean_border(const Image& img, int margin = 2) {
  int ink = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      const bool border = x < margin || y < margin || x >= img.width - margin ||
                          y >= img.height - margin;
      ink += border && is_ink(img, y, x) ? 1 : 0;
    }
  }
  EXPECT_EQ(ink, 0) << "ink on the border of a " << img.width << "x"
                    << img.height << " plot";
}

CalibrationReport two_bin_report() {
  // Bin 14: 100 samples, confidence 1, accuracy 1 (a full bar, no gap).
  // Bin 7: 50 samples, confidence 0.5, accuracy 0.25 (a quarter bar, a gap
  // of 0.25 above it). ECE = 50/150 * 0.25.
  CalibrationReport r;
  r.num_bins = 15;
  r.overall.samples = 150;
  r.overall.ece = 50.0 / 150 * 0.25;
  for (int b = 0; b < 15; ++b) {
    CalibrationBin bin;
    bin.lower = b / 15.0;
    bin.upper = (b + 1) / 15.0;
    r.bins.push_back(bin);
  }
  r.bins[14].count = 100;
  r.bins[14].confidence = 1.0;
  r.bins[14].accuracy = 1.0;
  r.bins[7].count = 50;
  r.bins[7].confidence = 0.5;
  r.bins[7].accuracy = 0.25;
  return r;
}

TEST(PlotReliability, BarsGapAndHistogram) {
  auto img = render_reliability(two_bin_report(), "CE", PlotStyle{600, 500});
  ASSERT_EQ(img.width, 600);
  ASSERT_EQ(img.height, 500);
  // The bars' bottom row: the lowest row of bar colour (the main plot's).
  const int base = lowest_row(img, kBarColor);
  ASSERT_GT(base, 0);
  auto bars = row_runs(img, base, kBarColor);
  ASSERT_EQ(bars.size(), 2u);  // bins 7 and 14; the others are empty
  // Bin 7 lies at x in (7/15, 8/15] of the plot, left of bin 14.
  const int x7 = (bars[0].first + bars[0].second) / 2;
  const int x14 = (bars[1].first + bars[1].second) / 2;
  EXPECT_LT(x7, x14);
  const int h14 = column_count(img, x14, 0, base + 1, kBarColor);
  const int h7 = column_count(img, x7, 0, base + 1, kBarColor);
  ASSERT_GT(h14, 100);
  EXPECT_NEAR(static_cast<double>(h7) / h14, 0.25, 0.03);
  // The gap over bin 7: reddish (blended) pixels right above its bar, a
  // quarter of the axis tall; none over bin 14.
  auto reddish = [&](int x) {
    int n = 0;
    for (int y = 0; y < base; ++y) {
      const int r = img.at(y, x, 0), g = img.at(y, x, 1), b = img.at(y, x, 2);
      n += (r > g + 40 && r > b + 40) ? 1 : 0;
    }
    return n;
  };
  EXPECT_NEAR(static_cast<double>(reddish(x7)) / h14, 0.25, 0.03);
  EXPECT_EQ(reddish(x14), 0);
  // The histogram: count bars below the main plot, heights 50 : 100.
  const int hb = lowest_row(img, kCountColor);
  ASSERT_GT(hb, base);
  const int c7 = column_count(img, x7, base + 1, img.height, kCountColor);
  const int c14 = column_count(img, x14, base + 1, img.height, kCountColor);
  ASSERT_GT(c14, 20);
  EXPECT_NEAR(static_cast<double>(c7) / c14, 0.5, 0.06);
  // The diagonal: dark grey pixels in the empty left half of the plot.
  int diag = 0;
  for (int y = 0; y < base; ++y) {
    for (int x = 0; x < x7 - 20; ++x) {
      const int r = img.at(y, x, 0), g = img.at(y, x, 1), b = img.at(y, x, 2);
      diag += (r == g && g == b && r < 200) ? 1 : 0;
    }
  }
  EXPECT_GT(diag, 50);
  expect_clean_border(img);
  EXPECT_THROW(render_reliability(CalibrationReport{}, "x"), ltcl::Error);
  EXPECT_THROW(
      render_reliability(two_bin_report(), "x", PlotStyle{100, 100}),
      ltcl::Error);
}

TEST(PlotReliability, LongTitleStaysInside) {
  std::string title;
  for (int i = 0; i < 12; ++i) {
    title += "BCL+RCL ResNet-32 CIFAR-100-LT ";
  }
  auto img = render_reliability(two_bin_report(), title, PlotStyle{400, 400});
  expect_clean_border(img);
}

// The 8-connected blob of colour c that holds (y, x): its pixel count and
// bounding box.
struct Blob {
  int pixels = 0, x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
  double fill() const {
    return pixels / static_cast<double>((x1 - x0 + 1) * (y1 - y0 + 1));
  }
  double cx() const {
    return (x0 + x1) / 2.0;
  }
  double cy() const {
    return (y0 + y1) / 2.0;
  }
};

Blob blob_at(const Image& img, int y, int x, const uint8_t c[3]) {
  Blob b;
  std::vector<char> seen(static_cast<size_t>(img.width) * img.height, 0);
  std::vector<std::pair<int, int>> stack = {{y, x}};
  while (!stack.empty()) {
    auto [py, px] = stack.back();
    stack.pop_back();
    if (py < 0 || px < 0 || py >= img.height || px >= img.width) {
      continue;
    }
    char& s = seen[static_cast<size_t>(py) * img.width + px];
    if (s || !is_color(img, py, px, c)) {
      continue;
    }
    s = 1;
    ++b.pixels;
    b.x0 = std::min(b.x0, px);
    b.x1 = std::max(b.x1, px);
    b.y0 = std::min(b.y0, py);
    b.y1 = std::max(b.y1, py);
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        stack.push_back({py + dy, px + dx});
      }
    }
  }
  return b;
}

// Pixels of colour c in row y within the blob's bounding box.
int row_width(const Image& img, const Blob& b, int y, const uint8_t c[3]) {
  int n = 0;
  for (int x = b.x0; x <= b.x1; ++x) {
    n += is_color(img, y, x, c) ? 1 : 0;
  }
  return n;
}

// The blob of colour c holding its leftmost pixel (the plot is left of the
// legend), and the number of pixels of that colour in total.
Blob leftmost_blob(const Image& img, const uint8_t c[3], int* total) {
  int bx = -1, by = -1;
  *total = 0;
  for (int x = 0; x < img.width; ++x) {
    for (int y = 0; y < img.height; ++y) {
      if (is_color(img, y, x, c)) {
        ++*total;
        if (bx < 0) {
          bx = x;
          by = y;
        }
      }
    }
  }
  return bx < 0 ? Blob{} : blob_at(img, by, bx, c);
}

TEST(PlotScatter, ColourByClassShapeByGroup) {
  // Class 0 (many) at the origin, class 1 (medium) 10 to the right, class 2
  // (few) 10 up: equal scales put 1 and 2 at the same pixel distance.
  const std::vector<double> x = {0, 10, 0}, y = {0, 0, 10};
  const std::vector<int64_t> labels = {0, 1, 2};
  const std::vector<ShotGroup> groups = {
      ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew};
  auto img = render_scatter(
      x, y, labels, {"cat", "dog", "eel"}, groups, "pca", PlotStyle{600, 400});
  EXPECT_EQ(img.height, 400);
  EXPECT_GE(img.width, 600);
  Blob b[3];
  for (int c = 0; c < 3; ++c) {
    uint8_t rgb[3];
    class_color(c, 3, rgb);
    int total = 0;
    b[c] = leftmost_blob(img, rgb, &total);
    ASSERT_GT(b[c].pixels, 10) << "class " << c;
    // The point and the legend's marker: twice the blob, give or take.
    EXPECT_GT(total, b[c].pixels * 3 / 2) << "no legend marker for " << c;
  }
  // Square: fills its bounding box. Circle: partly, and as wide at the top
  // as at the bottom. Triangle: a point on top, a wide base.
  EXPECT_GT(b[1].fill(), 0.95);
  EXPECT_LT(b[0].fill(), 0.9);
  EXPECT_LT(b[2].fill(), 0.7);
  for (int c = 0; c < 3; ++c) {
    uint8_t rgb[3];
    class_color(c, 3, rgb);
    auto top_w = row_width(img, b[c], b[c].y0, rgb);
    auto bottom_w = row_width(img, b[c], b[c].y1, rgb);
    if (c == 2) {
      EXPECT_LE(top_w * 3, bottom_w) << "triangle " << top_w << " " << bottom_w;
    } else {
      EXPECT_EQ(top_w, bottom_w) << "class " << c;
    }
  }
  // Positions: right, up, equal distances.
  EXPECT_GT(b[1].cx(), b[0].cx() + 50);
  EXPECT_NEAR(b[1].cy(), b[0].cy(), 1.5);
  EXPECT_LT(b[2].cy(), b[0].cy() - 50);
  EXPECT_NEAR(b[2].cx(), b[0].cx(), 1.5);
  EXPECT_NEAR(b[1].cx() - b[0].cx(), b[0].cy() - b[2].cy(), 2.0);
  expect_clean_border(img);
  // Bad input.
  EXPECT_THROW(render_scatter(x, y, {0, 1, 3}, {}, groups, "t"), ltcl::Error);
  EXPECT_THROW(render_scatter(x, {0}, labels, {}, groups, "t"), ltcl::Error);
  EXPECT_THROW(render_scatter(x, y, labels, {"a"}, groups, "t"), ltcl::Error);
  EXPECT_THROW(render_scatter({NAN}, {0}, {0}, {}, groups, "t"), ltcl::Error);
}

TEST(PlotScatter, LegendKeepsEveryLongName) {
  // 40 classes with long names: the legend wraps them and the image grows
  // to the right instead of cutting them.
  const int C = 40;
  std::vector<std::string> names;
  std::vector<ShotGroup> groups;
  std::vector<double> x, y;
  std::vector<int64_t> labels;
  for (int c = 0; c < C; ++c) {
    names.push_back(
        "class " + std::to_string(c) +
        " with a rather long descriptive name that goes on and on");
    groups.push_back(
        c < 15   ? ShotGroup::kMany
        : c < 30 ? ShotGroup::kMedium
                 : ShotGroup::kFew);
    for (int k = 0; k < 3; ++k) {
      x.push_back(std::cos(c * 0.16) * (5 + k));
      y.push_back(std::sin(c * 0.16) * (5 + k));
      labels.push_back(c);
    }
  }
  auto img =
      render_scatter(x, y, labels, names, groups, "t", PlotStyle{640, 480});
  EXPECT_GT(img.width, 640);
  expect_clean_border(img);
  // Every class has a legend marker right of the plot's points.
  int rightmost_point = 0;
  for (int c = 0; c < C; ++c) {
    uint8_t rgb[3];
    class_color(c, C, rgb);
    int total = 0;
    Blob b = leftmost_blob(img, rgb, &total);
    rightmost_point = std::max(rightmost_point, b.x1);
    EXPECT_GT(total, b.pixels) << "class " << c << " has no legend marker";
  }
  EXPECT_LT(rightmost_point, img.width / 2 + 100);
}

// Rows of series colour 0 in column x.
int series_rows(const Image& img, int x) {
  uint8_t c[3];
  series_color(0, c);
  return column_count(img, x, 0, img.height, c);
}

TEST(PlotPanels, MarkerOnEveryPoint) {
  // Evaluations every 10 epochs: x = 0, 10, 20, 30 at y = 1 on [0, 2].
  // Plot area (400 wide): left 56, width 328 -> points at columns 56, 165,
  // 275, 384; rows 36..256, y = 1 at row 146.
  Panel p;
  p.title = "accuracy";
  p.series.push_back({"top1", {0, 10, 20, 30}, {1, 1, 1, 1}});
  p.y_min = 0;
  p.y_max = 2;
  auto img = render_panels({p}, PlotStyle{400, 300});
  EXPECT_GE(series_rows(img, 165), 5);  // a marker: 7 rows tall
  EXPECT_GE(series_rows(img, 275), 5);
  EXPECT_LE(series_rows(img, 220), 3);  // the line between: 2 rows
  // One point alone (and one with NaN neighbours) is still drawn.
  Panel one;
  one.series.push_back({"few", {5}, {1}});
  one.series.push_back({"many", {0, 5, 10}, {NAN, 1.5, NAN}});
  one.y_min = 0;
  one.y_max = 2;
  auto img1 = render_panels({one}, PlotStyle{400, 300});
  // The only finite x is 5: the axis is [4.5, 5.5] and x = 5 the centre
  // column 220; y = 1 -> row 146, y = 1.5 -> row 91.
  uint8_t c0[3], c1[3];
  series_color(0, c0);
  series_color(1, c1);
  EXPECT_GE(column_count(img1, 220, 120, 170, c0), 5);
  EXPECT_GE(column_count(img1, 220, 70, 110, c1), 5);
  Panel single;
  single.series.push_back({"only", {3}, {7}});
  auto img2 = render_panels({single}, PlotStyle{400, 300});
  int n = 0;
  for (int y = 100; y < 200; ++y) {
    for (int x = 150; x < 290; ++x) {
      n += is_color(img2, y, x, c0) ? 1 : 0;
    }
  }
  EXPECT_GE(n, 9) << "a one-point series without a marker";
}

TEST(PlotPanels, LongTextIsFittedNotCut) {
  Panel a;
  a.title =
      "training loss of BCL + RCL on CIFAR-100-LT with imbalance factor 100 "
      "and ResNet-32, every component";
  // Wider than the 400 px panel at the normal font: shrunk and wrapped.
  a.y_label =
      "loss (nats per sample, mean over the epoch's steps, each component "
      "weighted as configured)";
  a.x_label = "epoch (one pass over the long-tailed training set)";
  a.series.push_back(
      {"balanced_softmax_cross_entropy", {0, 1, 2, 3}, {2, 1.5, 1.2, 1}});
  a.series.push_back(
      {"contrastive_with_class_complement_and_logit_adjustment_term",
       {0, 1, 2, 3},
       {3, 2.5, 2.2, 2}});
  a.y_min = 0;
  a.y_max = 4;
  Panel b = a;
  auto img = render_panels({a, b}, PlotStyle{800, 300});
  expect_clean_border(img);
  // Nothing of panel 0 spills into panel 1: the strip at the boundary
  // (x = 400) is empty down the whole image.
  int spill = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 393; x < 403; ++x) {
      spill += is_ink(img, y, x) ? 1 : 0;
    }
  }
  EXPECT_EQ(spill, 0);
  // The wrapped title pushed the plot frame down (36 with a short title):
  // the frame's top edge is the first row with a long black run.
  int frame_top = -1;
  for (int y = 0; y < img.height && frame_top < 0; ++y) {
    int run = 0;
    for (int x = 0; x < 400; ++x) {
      const bool black =
          img.at(y, x, 0) == 0 && img.at(y, x, 1) == 0 && img.at(y, x, 2) == 0;
      run = black ? run + 1 : 0;
      if (run > 200) {
        frame_top = y;
        break;
      }
    }
  }
  EXPECT_GT(frame_top, 36);
}

TEST(PlotFiles, WritesReliabilityAndScatterPngs) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ltcl_plot_diag_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  const auto rel = (dir / "reliability.png").string();
  write_reliability_plot(rel, two_bin_report(), "CE");
  auto back = ltcl::data::read_image(rel);
  EXPECT_EQ(back.pixels, render_reliability(two_bin_report(), "CE").pixels);
  const auto sc = (dir / "scatter.png").string();
  write_scatter_plot(
      sc, {0, 1}, {1, 0}, {0, 1}, {}, {ShotGroup::kMany, ShotGroup::kFew}, "e");
  EXPECT_GT(std::filesystem::file_size(sc), 1000u);
  if (const char* keep = std::getenv("LTCL_KEEP_PLOTS")) {
    for (const auto& f : {rel, sc}) {
      std::filesystem::copy_file(
          f,
          std::string(keep) + "/" +
              std::filesystem::path(f).filename().string(),
          std::filesystem::copy_options::overwrite_existing);
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
