#include "ltcl/eval/plot.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "ltcl/data/image_io.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::eval;

bool is_color(const ltcl::data::Image& img, int y, int x, const uint8_t c[3]) {
  return img.at(y, x, 0) == c[0] && img.at(y, x, 1) == c[1] &&
      img.at(y, x, 2) == c[2];
}

// A report with given accuracies (percent) and training counts, built from a
// confusion matrix with 20 test samples per class.
EvalReport report_of(
    const std::vector<double>& acc,
    const std::vector<int64_t>& counts) {
  const int64_t C = static_cast<int64_t>(acc.size());
  ConfusionMeter m(C);
  for (int64_t c = 0; c < C; ++c) {
    int64_t right = std::lround(acc[c] / 5.0);  // of 20
    for (int64_t i = 0; i < 20; ++i) {
      m.add(c, i < right ? c : (c + 1) % C);
    }
  }
  return make_report(m, counts);
}

// Rows below the plot that hold ink (any non-white pixel) in columns
// [x0, x1).
int inked_rows_below(const ltcl::data::Image& img, int y0, int x0, int x1) {
  int rows = 0;
  for (int y = y0; y < img.height; ++y) {
    bool ink = false;
    for (int x = x0; x < x1 && !ink; ++x) {
      ink = img.at(y, x, 0) != 255 || img.at(y, x, 1) != 255 ||
          img.at(y, x, 2) != 255;
    }
    rows += ink ? 1 : 0;
  }
  return rows;
}

TEST(Plot, ClassNamesAreWholeAndVertical) {
  const std::vector<double> acc = {90, 50, 10};
  const std::vector<int64_t> counts = {500, 50, 5};
  ConfusionMeter m(3);
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < 20; ++i) {
      m.add(c, i < std::lround(acc[c] / 5.0) ? c : (c + 1) % 3);
    }
  }
  const std::string long_name = "a_class_name_of_forty_characters_in_all";
  ASSERT_EQ(long_name.size(), 39u);
  auto short_img = render_class_accuracy(
      make_report(m, counts, {"ab", "cd", "ef"}), "t", PlotStyle{600, 400});
  auto long_img = render_class_accuracy(
      make_report(m, counts, {"ab", long_name, "ef"}), "t",
      PlotStyle{600, 400});
  // The image grows by the longest name (39 characters at ~6 px each), not
  // a cut at 8 characters.
  EXPECT_GT(long_img.height - short_img.height, 39 * 5);
  // The middle bar's slot (plot width 480 / 3 classes) holds ink in as many
  // rows below the plot as the name is long; its neighbours do not.
  const int plot_bottom = 400 - 48;
  const int mid0 = 56 + 160 + 40, mid1 = 56 + 320 - 40;
  EXPECT_GT(inked_rows_below(long_img, plot_bottom + 4, mid0, mid1), 39 * 5);
  EXPECT_LT(inked_rows_below(long_img, plot_bottom + 4, 56 + 40, 56 + 120), 40);
  // Too many classes for a line of text per bar: no names, no growth.
  std::vector<int64_t> many_counts(200, 10);
  ConfusionMeter many(200);
  for (int64_t c = 0; c < 200; ++c) {
    many.add(c, c);
  }
  auto crowded = render_class_accuracy(
      make_report(many, many_counts), "t", PlotStyle{600, 400});
  EXPECT_EQ(crowded.height, 400);
}

TEST(Plot, BarsSortedByCountWithProportionalHeights) {
  // Class i: accuracy, training count (unsorted on purpose).
  const std::vector<double> acc = {40, 100, 20, 80, 60};
  const std::vector<int64_t> counts = {50, 5000, 10, 1000, 200};
  EvalReport r = report_of(acc, counts);
  auto img = render_class_accuracy(r, "test", PlotStyle{600, 400});
  ASSERT_EQ(img.width, 600);
  ASSERT_GT(img.height, 400);  // + the vertical class names "0".."4"
  ASSERT_LT(img.height, 430);
  ASSERT_EQ(img.channels, 3);

  // The bars' bottom row: the lowest row holding bar colour.
  int base = -1;
  for (int y = img.height - 1; y >= 0 && base < 0; --y) {
    for (int x = 0; x < img.width; ++x) {
      if (is_color(img, y, x, kBarColor)) {
        base = y;
        break;
      }
    }
  }
  ASSERT_GT(base, 0);
  // Runs of bar colour along that row, left to right = the bars.
  std::vector<std::pair<int, int>> runs;
  for (int x = 0; x < img.width; ++x) {
    if (is_color(img, base, x, kBarColor)) {
      if (runs.empty() || runs.back().second != x - 1) {
        runs.push_back({x, x});
      } else {
        runs.back().second = x;
      }
    }
  }
  ASSERT_EQ(runs.size(), 5u);
  // Height of each bar: bar-coloured pixels up the middle column.
  std::vector<int> heights;
  for (auto [x0, x1] : runs) {
    int x = (x0 + x1) / 2, h = 0;
    for (int y = base; y >= 0; --y) {
      if (is_color(img, y, x, kBarColor)) {
        ++h;
      } else if (h > 0 && !is_color(img, y, x, kCountColor)) {
        break;
      }
    }
    heights.push_back(h);
  }
  // Sorted by count: 5000 (100 %), 1000 (80), 200 (60), 50 (40), 10 (20).
  const std::vector<double> expected = {100, 80, 60, 40, 20};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(
        heights[i] / static_cast<double>(heights[0]),
        expected[i] / 100.0,
        0.02)
        << "bar " << i << " height " << heights[i];
  }
  // The count line is drawn.
  int count_pixels = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      count_pixels += is_color(img, y, x, kCountColor) ? 1 : 0;
    }
  }
  EXPECT_GT(count_pixels, 100);
}

TEST(Plot, PanelsDrawLinesWhereTheDataIs) {
  Panel p;
  p.title = "loss";
  p.y_label = "loss";
  // A horizontal line at y = 1 on a [0, 2] axis: the middle of the plot.
  p.series.push_back({"flat", {0, 1, 2, 3}, {1, 1, 1, 1}});
  p.y_min = 0;
  p.y_max = 2;
  auto img = render_panels({p}, PlotStyle{400, 300});
  uint8_t c[3];
  series_color(0, c);
  // Rows holding the series colour, in the column at the plot's centre.
  // Plot area: top 36, bottom margin 44 -> rows 36..256, middle 146.
  std::vector<int> rows;
  int x = 56 + (400 - 56 - 16) / 2;
  for (int y = 0; y < img.height; ++y) {
    if (is_color(img, y, x, c)) {
      rows.push_back(y);
    }
  }
  ASSERT_FALSE(rows.empty());
  for (int y : rows) {
    EXPECT_NEAR(y, 146, 2);
  }
  // Two panels, NaN gaps and mismatched series.
  Panel acc;
  acc.title = "accuracy";
  acc.series.push_back({"top1", {0, 1, 2}, {10, NAN, 30}});
  EXPECT_NO_THROW(render_panels({p, acc}, PlotStyle{800, 300}));
  acc.series.push_back({"bad", {0, 1}, {1}});
  EXPECT_THROW(render_panels({p, acc}, PlotStyle{800, 300}), ltcl::Error);
  EXPECT_THROW(render_panels({}, PlotStyle{}), ltcl::Error);
}

TEST(Plot, AFixedXRangePlacesASinglePointWithinIt) {
  // One evaluation at epoch 5 of a 5-epoch run: with the run's epochs as the
  // x range (history.cpp's write_curves sets it) the point sits at the
  // right end of the axis, not centred on an axis 4.5 .. 5.5 of its own.
  Panel p;
  p.title = "accuracy";
  p.series.push_back({"top1", {5}, {50}});
  p.y_min = 0;
  p.y_max = 100;
  uint8_t c[3];
  series_color(0, c);
  // The mean column of the series colour in the rows around y = 50 (the
  // plot's middle, away from the legend at the top).
  auto mean_column = [&](const Panel& panel) {
    auto img = render_panels({panel}, PlotStyle{400, 300});
    double sum = 0;
    int n = 0;
    for (int y = 136; y <= 156; ++y) {
      for (int x = 0; x < img.width; ++x) {
        if (is_color(img, y, x, c)) {
          sum += x;
          ++n;
        }
      }
    }
    EXPECT_GT(n, 0);
    return n > 0 ? sum / n : 0.0;
  };
  const double centred = mean_column(p);
  p.x_min = 1;
  p.x_max = 5;
  const double at_end = mean_column(p);
  EXPECT_NEAR(centred, 200, 40);  // x range from the data: the middle
  EXPECT_GT(at_end, 330);         // x range 1..5: the right end
}

TEST(Plot, WritesReadablePngs) {
  ltcl::test::TempDir dir;
  std::vector<double> acc;
  std::vector<int64_t> counts;
  for (int c = 0; c < 10; ++c) {
    counts.push_back(static_cast<int64_t>(5000 * std::pow(0.01, c / 9.0)));
    acc.push_back(95 - 8.0 * c);
  }
  EvalReport r = report_of(acc, counts);
  auto bars = (dir / "per_class.png").string();
  write_class_accuracy_plot(bars, r, "CIFAR-10-LT IF 100");
  auto back = ltcl::data::read_image(bars);
  EXPECT_EQ(back.width, 960);
  EXPECT_GT(back.height, 480);  // + the class names under the bars
  EXPECT_EQ(back.channels, 3);
  auto direct = render_class_accuracy(r, "CIFAR-10-LT IF 100");
  EXPECT_EQ(back.pixels, direct.pixels);  // lossless
  auto size = std::filesystem::file_size(bars);
  EXPECT_GT(size, 5000u);
  EXPECT_LT(size, 500000u);

  Panel loss{"loss components"};
  loss.y_label = "loss";
  loss.series.push_back({"ce", {0, 1, 2, 3}, {2.3, 1.5, 1.1, 0.9}});
  loss.series.push_back({"contrastive", {0, 1, 2, 3}, {5.0, 4.2, 3.9, 3.7}});
  Panel accp{"accuracy"};
  accp.y_label = "%";
  accp.series.push_back({"top1", {0, 1, 2, 3}, {30, 50, 60, 65}});
  accp.series.push_back({"few", {0, 1, 2, 3}, {1, 10, 20, 30}});
  auto curves = (dir / "curves.png").string();
  write_panels_plot(curves, {loss, accp});
  EXPECT_GT(std::filesystem::file_size(curves), 5000u);
  if (const char* keep = std::getenv("LTCL_KEEP_PLOTS")) {
    std::filesystem::copy_file(bars, std::string(keep) + "/per_class.png",
        std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(curves, std::string(keep) + "/curves.png",
        std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
