#pragma once
// Report plots drawn with OpenCV's imgproc (lines, rectangles, text) into an
// RGB data::Image, written as PNG by the write_* functions.
//
// - Per-class accuracy against training count: one bar per class, classes
//   sorted by training count (largest first), bar height = accuracy on a
//   0-100 % axis (left); the training count as a line on a log axis (right);
//   dashed separators between the many / medium / few groups.
// - Line panels (learning curves): side-by-side panels, each with its own
//   y axis and legend; typically loss components and accuracies vs epoch.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ltcl/data/image.h"
#include "ltcl/eval/report.h"

namespace ltcl::eval {

struct PlotStyle {
  int width = 960;
  int height = 480;
};

// Colours (RGB) the plots use, for pixel checks.
inline constexpr uint8_t kBarColor[3] = {70, 130, 180};
inline constexpr uint8_t kCountColor[3] = {230, 120, 30};

data::Image render_class_accuracy(
    const EvalReport& report,
    const std::string& title,
    const PlotStyle& style = {});

struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;  // non-finite values break the line
};

struct Panel {
  std::string title;
  std::string x_label = "epoch";
  std::string y_label;
  std::vector<Series> series;
  // Fixed y range; NaN = from the data.
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

data::Image render_panels(
    const std::vector<Panel>& panels,
    const PlotStyle& style = {});

// Render and write as PNG (atomically, via data::write_png).
void write_class_accuracy_plot(
    const std::string& path,
    const EvalReport& report,
    const std::string& title,
    const PlotStyle& style = {});
void write_panels_plot(
    const std::string& path,
    const std::vector<Panel>& panels,
    const PlotStyle& style = {});

// The palette used for series i (RGB).
void series_color(size_t i, uint8_t rgb[3]);

}  // namespace ltcl::eval
