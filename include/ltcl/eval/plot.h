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
//   Every finite point gets a marker, so sparse evaluations (every 10
//   epochs) and one-point series stay visible.
// - Reliability diagram (calibration.h): accuracy per confidence bin as
//   bars, the gap to the bin's mean confidence as a translucent overlay, the
//   diagonal of perfect calibration, the ECE in the title, and the bins'
//   sample counts as a small histogram underneath.
// - Scatter of 2-D points (an embedding already projected, e.g. by PCA):
//   colour by class, marker by shot group (many: circle, medium: square,
//   few: triangle; drawn in that order so the tail stays on top), with a
//   legend of every class name.
//
// Text is never cut: titles, axis labels and legend entries are measured
// (cv::getTextSize), shrunk to a minimum size and then wrapped; the margins
// grow to hold them, and the scatter plot grows wider for its legend.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ltcl/data/image.h"
#include "ltcl/eval/calibration.h"
#include "ltcl/eval/report.h"

namespace ltcl::eval {

struct PlotStyle {
  int width = 960;
  int height = 480;
};

// Colours (RGB) the plots use, for pixel checks.
inline constexpr uint8_t kBarColor[3] = {70, 130, 180};
inline constexpr uint8_t kCountColor[3] = {230, 120, 30};
// The reliability gap, blended at 50 % over what is under it.
inline constexpr uint8_t kGapColor[3] = {214, 39, 40};
inline constexpr uint8_t kDiagonalColor[3] = {90, 90, 90};

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
  // Fixed x range (both or neither; x_min < x_max); NaN = from the data.
  double x_min = std::numeric_limits<double>::quiet_NaN();
  double x_max = std::numeric_limits<double>::quiet_NaN();
};

data::Image render_panels(
    const std::vector<Panel>& panels,
    const PlotStyle& style = {});

// Reliability diagram of report.bins; the title gets the ECE (percent) and
// the sample count appended. Throws ltcl::Error for a report without bins or
// a style under 240 x 200.
data::Image render_reliability(
    const CalibrationReport& report,
    const std::string& title,
    const PlotStyle& style = {});

// Scatter of points (x[i], y[i]) of class labels[i]; one entry per class in
// group_of_class (sets the number of classes) and in class_names (or empty:
// the index is used). Equal scales on both axes (a projection's distances
// stay true). The image is style.width wide, or wider when the legend needs
// the room. Throws ltcl::Error on length mismatches, labels outside
// [0, classes), or no finite point.
data::Image render_scatter(
    const std::vector<double>& x,
    const std::vector<double>& y,
    const std::vector<int64_t>& labels,
    const std::vector<std::string>& class_names,
    const std::vector<ShotGroup>& group_of_class,
    const std::string& title,
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
void write_reliability_plot(
    const std::string& path,
    const CalibrationReport& report,
    const std::string& title,
    const PlotStyle& style = {});
void write_scatter_plot(
    const std::string& path,
    const std::vector<double>& x,
    const std::vector<double>& y,
    const std::vector<int64_t>& labels,
    const std::vector<std::string>& class_names,
    const std::vector<ShotGroup>& group_of_class,
    const std::string& title,
    const PlotStyle& style = {});

// The palette used for series i (RGB).
void series_color(size_t i, uint8_t rgb[3]);

// The colour of class c of num_classes in the scatter plot (RGB): the series
// palette for up to 8 classes, else hues spread by the golden angle with
// alternating saturation / value, so neighbouring classes differ.
void class_color(size_t c, size_t num_classes, uint8_t rgb[3]);

}  // namespace ltcl::eval
