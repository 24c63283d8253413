#include "ltcl/eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "ltcl/data/image_io.h"
#include "ltcl/util/error.h"

namespace ltcl::eval {
namespace {

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kBlack(0, 0, 0);
const cv::Scalar kGrid(225, 225, 225);
const cv::Scalar kGroupLine(150, 150, 150);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kFontScale = 0.4;

cv::Scalar rgb(const uint8_t c[3]) {
  return cv::Scalar(c[0], c[1], c[2]);  // the Mat is RGB
}

void text(
    cv::Mat& m,
    const std::string& s,
    cv::Point at,
    double scale = kFontScale,
    cv::Scalar color = kBlack,
    int align = -1) {  // -1 left, 0 centre, 1 right
  int base = 0;
  cv::Size sz = cv::getTextSize(s, kFont, scale, 1, &base);
  if (align == 0) {
    at.x -= sz.width / 2;
  } else if (align == 1) {
    at.x -= sz.width;
  }
  cv::putText(m, s, at, kFont, scale, color, 1, cv::LINE_AA);
}

data::Image to_image(const cv::Mat& m) {
  data::Image img(m.rows, m.cols, 3);
  for (int y = 0; y < m.rows; ++y) {
    std::memcpy(
        img.data() + static_cast<size_t>(y) * m.cols * 3,
        m.ptr<uint8_t>(y),
        static_cast<size_t>(m.cols) * 3);
  }
  return img;
}

void dashed_vline(cv::Mat& m, int x, int y0, int y1, cv::Scalar c) {
  for (int y = y0; y < y1; y += 8) {
    cv::line(m, {x, y}, {x, std::min(y + 4, y1)}, c, 1);
  }
}

std::string tick_label(double v) {
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-2 || a >= 1e4)) {
    return fmt::format("{:.1e}", v);
  }
  return fmt::format("{:.3g}", v);
}

}  // namespace

void series_color(size_t i, uint8_t out[3]) {
  static const uint8_t kPalette[8][3] = {
      {31, 119, 180},
      {214, 39, 40},
      {44, 160, 44},
      {255, 127, 14},
      {148, 103, 189},
      {140, 86, 75},
      {227, 119, 194},
      {23, 190, 207}};
  std::memcpy(out, kPalette[i % 8], 3);
}

data::Image render_class_accuracy(
    const EvalReport& report,
    const std::string& title,
    const PlotStyle& style) {
  const int C = static_cast<int>(report.per_class.size());
  if (C == 0) {
    fail("render_class_accuracy - the report has no classes");
  }
  if (style.width < 200 || style.height < 150) {
    fail(
        "render_class_accuracy - plot too small: {{got {}x{}, need at least "
        "200x150}}",
        style.width,
        style.height);
  }
  cv::Mat m(style.height, style.width, CV_8UC3, kWhite);
  const int left = 56, right = 64, top = 36, bottom = 48;
  const int pw = style.width - left - right;
  const int ph = style.height - top - bottom;
  const int y_axis = top + ph;  // pixel row of 0 %

  // Classes by training count, largest first (ties: class index).
  std::vector<int> order(C);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return report.per_class[a].train_count > report.per_class[b].train_count;
  });

  // Grid and left axis (accuracy).
  for (int p = 0; p <= 100; p += 20) {
    int y = y_axis - static_cast<int>(std::lround(ph * p / 100.0));
    cv::line(m, {left, y}, {left + pw, y}, kGrid, 1);
    text(m, fmt::format("{}", p), {left - 6, y + 4}, kFontScale, kBlack, 1);
  }
  text(m, "accuracy %", {4, top - 10});

  // Bars.
  const double slot = static_cast<double>(pw) / C;
  const int gap = slot >= 4 ? std::max(1, static_cast<int>(slot * 0.15)) : 0;
  for (int i = 0; i < C; ++i) {
    const auto& row = report.per_class[order[i]];
    double acc = std::isfinite(row.accuracy) ? row.accuracy : 0.0;
    int h = static_cast<int>(std::lround(ph * std::clamp(acc, 0.0, 100.0) / 100));
    int x0 = left + static_cast<int>(std::floor(i * slot)) + gap;
    int x1 = left + static_cast<int>(std::floor((i + 1) * slot)) - gap - 1;
    if (h > 0 && x1 >= x0) {
      cv::rectangle(
          m, {x0, y_axis - h}, {x1, y_axis - 1}, rgb(kBarColor), cv::FILLED);
    }
    if (C <= 20) {
      text(
          m,
          row.name.substr(0, 8),
          {(x0 + x1) / 2, y_axis + 14},
          0.35,
          kBlack,
          0);
    }
  }

  // Group separators.
  for (int i = 1; i < C; ++i) {
    if (report.per_class[order[i]].group != report.per_class[order[i - 1]].group) {
      int x = left + static_cast<int>(std::lround(i * slot));
      dashed_vline(m, x, top, y_axis, kGroupLine);
    }
  }
  for (ShotGroup g : {ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew}) {
    int first = -1, last = -1;
    for (int i = 0; i < C; ++i) {
      if (report.per_class[order[i]].group == g) {
        first = first < 0 ? i : first;
        last = i;
      }
    }
    if (first >= 0) {
      int x = left + static_cast<int>((first + last + 1) * slot / 2);
      text(m, shot_group_name(g), {x, top + 12}, kFontScale, kGroupLine, 0);
    }
  }

  // Training counts: a line on a log axis (right).
  int64_t max_count = 1;
  for (const auto& r : report.per_class) {
    max_count = std::max(max_count, r.train_count);
  }
  const double log_max = std::log10(static_cast<double>(max_count)) + 0.1;
  auto count_y = [&](int64_t n) {
    double v = std::log10(std::max<double>(1.0, static_cast<double>(n)));
    return y_axis - static_cast<int>(std::lround(ph * v / log_max));
  };
  for (double p = 1; p <= max_count; p *= 10) {
    int y = count_y(static_cast<int64_t>(p));
    cv::line(m, {left + pw, y}, {left + pw + 4, y}, rgb(kCountColor), 1);
    text(
        m,
        fmt::format("{}", static_cast<int64_t>(p)),
        {left + pw + 7, y + 4},
        kFontScale,
        rgb(kCountColor));
  }
  text(m, "train count", {style.width - right + 2, top - 10}, kFontScale,
       rgb(kCountColor));
  cv::Point prev;
  for (int i = 0; i < C; ++i) {
    cv::Point p(
        left + static_cast<int>(std::lround((i + 0.5) * slot)),
        count_y(report.per_class[order[i]].train_count));
    if (i > 0) {
      cv::line(m, prev, p, rgb(kCountColor), 2, cv::LINE_AA);
    }
    if (C <= 50) {
      cv::circle(m, p, 3, rgb(kCountColor), cv::FILLED, cv::LINE_AA);
    }
    prev = p;
  }

  // Frame, titles.
  cv::line(m, {left, y_axis}, {left + pw, y_axis}, kBlack, 1);
  cv::line(m, {left, top}, {left, y_axis}, kBlack, 1);
  cv::line(m, {left + pw, top}, {left + pw, y_axis}, kBlack, 1);
  text(m, title, {style.width / 2, 20}, 0.5, kBlack, 0);
  text(
      m,
      fmt::format(
          "classes sorted by training count (top-1 {:.2f} %, many {:.1f} / "
          "medium {:.1f} / few {:.1f})",
          report.top1,
          report.many,
          report.medium,
          report.few),
      {left + pw / 2, style.height - 10},
      kFontScale,
      kBlack,
      0);
  return to_image(m);
}

data::Image render_panels(
    const std::vector<Panel>& panels,
    const PlotStyle& style) {
  if (panels.empty()) {
    fail("render_panels - no panels to draw");
  }
  const int n = static_cast<int>(panels.size());
  if (style.width < 200 * n || style.height < 150) {
    fail(
        "render_panels - plot too small for {} panels: {{got {}x{}}}",
        n,
        style.width,
        style.height);
  }
  cv::Mat m(style.height, style.width, CV_8UC3, kWhite);
  const int panel_w = style.width / n;
  for (int k = 0; k < n; ++k) {
    const Panel& panel = panels[k];
    const int left = k * panel_w + 56, right = 16, top = 36, bottom = 44;
    const int pw = panel_w - 56 - right;
    const int ph = style.height - top - bottom;
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY,
           y_hi = -INFINITY;
    for (const auto& s : panel.series) {
      if (s.x.size() != s.y.size()) {
        fail(
            "render_panels - series '{}' has {} x and {} y values",
            s.name,
            s.x.size(),
            s.y.size());
      }
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          continue;
        }
        x_lo = std::min(x_lo, s.x[i]);
        x_hi = std::max(x_hi, s.x[i]);
        y_lo = std::min(y_lo, s.y[i]);
        y_hi = std::max(y_hi, s.y[i]);
      }
    }
    if (!std::isfinite(x_lo)) {
      x_lo = 0;
      x_hi = 1;
      y_lo = 0;
      y_hi = 1;
    }
    if (std::isfinite(panel.y_min)) {
      y_lo = panel.y_min;
    }
    if (std::isfinite(panel.y_max)) {
      y_hi = panel.y_max;
    }
    if (x_hi <= x_lo) {
      x_hi = x_lo + 1;
    }
    if (y_hi <= y_lo) {
      y_hi = y_lo + 1;
    }
    auto px = [&](double x) {
      return left + static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * pw));
    };
    auto py = [&](double y) {
      return top + ph -
          static_cast<int>(std::lround((y - y_lo) / (y_hi - y_lo) * ph));
    };
    for (int t = 0; t <= 4; ++t) {
      double y = y_lo + (y_hi - y_lo) * t / 4;
      cv::line(m, {left, py(y)}, {left + pw, py(y)}, kGrid, 1);
      text(m, tick_label(y), {left - 4, py(y) + 4}, kFontScale, kBlack, 1);
      double x = x_lo + (x_hi - x_lo) * t / 4;
      text(m, tick_label(x), {px(x), top + ph + 14}, kFontScale, kBlack, 0);
    }
    cv::rectangle(m, {left, top}, {left + pw, top + ph}, kBlack, 1);
    text(m, panel.title, {left + pw / 2, 20}, 0.5, kBlack, 0);
    text(m, panel.x_label, {left + pw / 2, style.height - 8}, kFontScale,
         kBlack, 0);
    text(m, panel.y_label, {k * panel_w + 4, top - 8});
    for (size_t si = 0; si < panel.series.size(); ++si) {
      const auto& s = panel.series[si];
      uint8_t c[3];
      series_color(si, c);
      bool have_prev = false;
      cv::Point prev;
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          have_prev = false;
          continue;
        }
        cv::Point p(px(s.x[i]), py(std::clamp(s.y[i], y_lo, y_hi)));
        if (have_prev) {
          cv::line(m, prev, p, rgb(c), 2, cv::LINE_AA);
        } else if (s.x.size() == 1 || i + 1 == s.x.size() ||
                   !std::isfinite(s.y[i + 1])) {
          cv::circle(m, p, 3, rgb(c), cv::FILLED, cv::LINE_AA);
        }
        prev = p;
        have_prev = true;
      }
      // Legend, top right inside the panel.
      int ly = top + 14 + static_cast<int>(si) * 14;
      cv::line(m, {left + pw - 110, ly - 4}, {left + pw - 92, ly - 4}, rgb(c), 2);
      text(m, s.name.substr(0, 16), {left + pw - 88, ly});
    }
  }
  return to_image(m);
}

void write_class_accuracy_plot(
    const std::string& path,
    const EvalReport& report,
    const std::string& title,
    const PlotStyle& style) {
  data::write_png(path, render_class_accuracy(report, title, style));
}

void write_panels_plot(
    const std::string& path,
    const std::vector<Panel>& panels,
    const PlotStyle& style) {
  data::write_png(path, render_panels(panels, style));
}

}  // namespace ltcl::eval
