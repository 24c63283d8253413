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

// A tick value within a millionth of the axis span of 0 is 0 (not 9.1e-05).
double snap_zero(double v, double span) {
  return std::fabs(v) < 1e-6 * std::fabs(span) ? 0.0 : v;
}

// Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten, about
// four steps over [lo, hi]), the ones inside [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  const double span = hi - lo;
  std::vector<double> ticks;
  if (!(span > 0) || !std::isfinite(span)) {
    return {lo};
  }
  const double raw = span / 4;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * p;
  for (double f : {1.0, 2.0, 2.5, 5.0}) {
    if (f * p >= raw * (1 - 1e-9)) {
      step = f * p;
      break;
    }
  }
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9;
       k += 1) {
    ticks.push_back(snap_zero(k * step, span));
  }
  return ticks;
}

int text_width(const std::string& s, double scale) {
  int base = 0;
  return cv::getTextSize(s, kFont, scale, 1, &base).width;
}

// Pixels from one baseline to the next.
int line_height(double scale) {
  int base = 0;
  cv::Size sz = cv::getTextSize("Agy", kFont, scale, 1, &base);
  return sz.height + base + 2;
}

// Greedy word wrap to max_width; a word wider than that is split.
std::vector<std::string> wrap_words(
    const std::string& s, double scale, int max_width) {
  std::vector<std::string> words, lines;
  std::string w;
  for (char ch : s) {
    if (ch == ' ' || ch == '\n' || ch == '\t') {
      if (!w.empty()) {
        words.push_back(w);
      }
      w.clear();
    } else {
      w += ch;
    }
  }
  if (!w.empty()) {
    words.push_back(w);
  }
  std::string line;
  for (std::string word : words) {
    std::string joined = line.empty() ? word : line + " " + word;
    if (text_width(joined, scale) <= max_width) {
      line = joined;
      continue;
    }
    if (!line.empty()) {
      lines.push_back(line);
      line.clear();
    }
    // The word alone: split it while it is too wide.
    while (text_width(word, scale) > max_width && word.size() > 1) {
      size_t n = 1;
      while (n + 1 < word.size() &&
             text_width(word.substr(0, n + 1), scale) <= max_width) {
        ++n;
      }
      lines.push_back(word.substr(0, n));
      word = word.substr(n);
    }
    line = word;
  }
  if (!line.empty() || lines.empty()) {
    lines.push_back(line);
  }
  return lines;
}

// A piece of text fitted into a width: at `scale` if it fits, else at the
// largest scale down to `min_scale` that fits, else wrapped at min_scale.
struct TextBlock {
  std::vector<std::string> lines;
  double scale = kFontScale;
  int line_h = 0;
  int width = 0;
  int height() const {
    return static_cast<int>(lines.size()) * line_h;
  }
};

TextBlock fit_text(
    const std::string& s, int max_width, double scale, double min_scale = 0.3) {
  TextBlock b;
  max_width = std::max(max_width, 8);
  for (double sc = scale; sc >= min_scale - 1e-9; sc -= 0.05) {
    if (text_width(s, sc) <= max_width) {
      b.lines = {s};
      b.scale = sc;
      break;
    }
  }
  if (b.lines.empty()) {
    b.scale = min_scale;
    b.lines = wrap_words(s, min_scale, max_width);
  }
  b.line_h = line_height(b.scale);
  for (const auto& l : b.lines) {
    b.width = std::max(b.width, text_width(l, b.scale));
  }
  return b;
}

// Draws the lines with the first baseline at `at.y`.
void draw_block(
    cv::Mat& m,
    const TextBlock& b,
    cv::Point at,
    cv::Scalar color = kBlack,
    int align = -1) {
  for (size_t i = 0; i < b.lines.size(); ++i) {
    text(
        m,
        b.lines[i],
        {at.x, at.y + static_cast<int>(i) * b.line_h},
        b.scale,
        color,
        align);
  }
}

// Fills a rectangle with `c` blended at `alpha` over what is there.
void blend_rect(cv::Mat& m, cv::Rect r, cv::Scalar c, double alpha) {
  r &= cv::Rect(0, 0, m.cols, m.rows);
  if (r.width <= 0 || r.height <= 0) {
    return;
  }
  cv::Mat roi = m(r);
  cv::Mat overlay(roi.size(), roi.type(), c);
  cv::addWeighted(overlay, alpha, roi, 1 - alpha, 0, roi);
}

void dashed_line(cv::Mat& m, cv::Point a, cv::Point b, cv::Scalar c) {
  const double len = std::hypot(b.x - a.x, b.y - a.y);
  const int steps = std::max(1, static_cast<int>(len / 6));
  for (int i = 0; i < steps; i += 2) {
    cv::Point p(a.x + (b.x - a.x) * i / steps, a.y + (b.y - a.y) * i / steps);
    cv::Point q(
        a.x + (b.x - a.x) * (i + 1) / steps,
        a.y + (b.y - a.y) * (i + 1) / steps);
    cv::line(m, p, q, c, 1, cv::LINE_AA);
  }
}

// Scatter markers, exact colours (no anti-aliasing) so pixels can be
// checked: many = circle, medium = square, few = triangle.
void marker(cv::Mat& m, cv::Point p, ShotGroup g, cv::Scalar c, int r) {
  switch (g) {
    case ShotGroup::kMany:
      cv::circle(m, p, r, c, cv::FILLED, cv::LINE_8);
      break;
    case ShotGroup::kMedium:
      cv::rectangle(
          m, {p.x - r, p.y - r}, {p.x + r, p.y + r}, c, cv::FILLED, cv::LINE_8);
      break;
    case ShotGroup::kFew: {
      const int h = r + 1;
      std::vector<cv::Point> tri = {
          {p.x, p.y - h}, {p.x - h, p.y + h}, {p.x + h, p.y + h}};
      cv::fillConvexPoly(m, tri, c, cv::LINE_8);
      break;
    }
  }
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

void class_color(size_t c, size_t num_classes, uint8_t out[3]) {
  if (num_classes <= 8) {
    series_color(c, out);
    return;
  }
  // Golden-angle hues; saturation / value cycle so neighbours differ.
  const double h = std::fmod(static_cast<double>(c) * 0.6180339887498949, 1.0);
  const double sat = c % 2 == 0 ? 0.85 : 0.6;
  const double val = (c / 2) % 2 == 0 ? 0.85 : 0.65;
  const double hh = h * 6;
  const int k = static_cast<int>(hh) % 6;
  const double f = hh - std::floor(hh);
  const double p = val * (1 - sat), q = val * (1 - sat * f),
               t = val * (1 - sat * (1 - f));
  double r = 0, g = 0, b = 0;
  switch (k) {
    case 0:
      r = val;
      g = t;
      b = p;
      break;
    case 1:
      r = q;
      g = val;
      b = p;
      break;
    case 2:
      r = p;
      g = val;
      b = t;
      break;
    case 3:
      r = p;
      g = q;
      b = val;
      break;
    case 4:
      r = t;
      g = p;
      b = val;
      break;
    default:
      r = val;
      g = p;
      b = q;
      break;
  }
  out[0] = static_cast<uint8_t>(std::lround(r * 255));
  out[1] = static_cast<uint8_t>(std::lround(g * 255));
  out[2] = static_cast<uint8_t>(std::lround(b * 255));
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
  const int left = 56, right = 64, top = 36, bottom = 48;
  const int pw = style.width - left - right;
  const int ph = style.height - top - bottom;
  const int y_axis = top + ph;  // pixel row of 0 %
  const double slot = static_cast<double>(pw) / C;

  // Class names under the bars, whole and vertical (read bottom to top,
  // ending at the axis), when a bar slot is at least a line of text wide;
  // the image grows downwards by the longest name.
  const double label_scale = 0.35;
  const int label_h = line_height(label_scale);
  const bool labels = slot >= label_h;
  int label_len = 0;
  if (labels) {
    for (const auto& row : report.per_class) {
      label_len = std::max(label_len, text_width(row.name, label_scale));
    }
  }
  const int extra = labels ? label_len + 8 : 0;
  const int height = style.height + extra;
  cv::Mat m(height, style.width, CV_8UC3, kWhite);

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
    if (labels && label_len > 0) {
      // Drawn right-aligned in a horizontal strip, then turned a quarter
      // counter-clockwise: the name's end lands next to the axis.
      cv::Mat strip(label_h, label_len + 2, CV_8UC3, kWhite);
      const int w = text_width(row.name, label_scale);
      cv::putText(
          strip, row.name, {label_len + 1 - w, label_h - 4}, kFont,
          label_scale, kBlack, 1, cv::LINE_AA);
      cv::Mat turned;
      cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
      const int cx = left + static_cast<int>(std::lround((i + 0.5) * slot));
      const int x = std::clamp(cx - label_h / 2, 0, style.width - label_h);
      turned.copyTo(m(cv::Rect(x, y_axis + 4, turned.cols, turned.rows)));
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
  // Right-aligned to the image's edge: the margin is narrower than the text.
  text(m, "train count", {style.width - 4, top - 10}, kFontScale,
       rgb(kCountColor), 1);
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
  // Shot groups without classes (NaN) are left out, not printed as "nan".
  std::vector<std::string> groups;
  for (auto [name, v] : {std::pair<const char*, double>{"many", report.many},
                         {"medium", report.medium},
                         {"few", report.few}}) {
    if (std::isfinite(v)) {
      groups.push_back(fmt::format("{} {:.1f}", name, v));
    }
  }
  const TextBlock caption = fit_text(
      fmt::format(
          "classes sorted by training count (top-1 {:.2f} %{}{})",
          report.top1,
          groups.empty() ? "" : ", ",
          fmt::join(groups, " / ")),
      style.width - 8,
      kFontScale);
  draw_block(m, caption, {style.width / 2, height - 10}, kBlack, 0);
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
    const int x0 = k * panel_w;  // the panel's left edge
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY,
           y_hi = -INFINITY;
    size_t max_points = 0;
    for (const auto& s : panel.series) {
      if (s.x.size() != s.y.size()) {
        fail(
            "render_panels - series '{}' has {} x and {} y values",
            s.name,
            s.x.size(),
            s.y.size());
      }
      max_points = std::max(max_points, s.x.size());
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
    const bool fixed_y =
        std::isfinite(panel.y_min) || std::isfinite(panel.y_max);
    if (std::isfinite(panel.y_min)) {
      y_lo = panel.y_min;
    }
    if (std::isfinite(panel.y_max)) {
      y_hi = panel.y_max;
    }
    if (std::isfinite(panel.x_min) && std::isfinite(panel.x_max) &&
        panel.x_min < panel.x_max) {
      x_lo = panel.x_min;
      x_hi = panel.x_max;
    }
    // One x (or y) value: centre it.
    if (x_hi <= x_lo) {
      x_lo -= 0.5;
      x_hi += 0.5;
    }
    if (y_hi <= y_lo) {
      if (fixed_y) {
        y_hi = y_lo + 1;
      } else {
        y_lo -= 0.5;
        y_hi += 0.5;
      }
    }
    const auto y_ticks = nice_ticks(y_lo, y_hi);
    const auto x_ticks = nice_ticks(x_lo, x_hi);

    // Margins from the text they hold.
    int tick_w = 0;
    for (double y : y_ticks) {
      tick_w = std::max(tick_w, text_width(tick_label(y), kFontScale));
    }
    const int left = x0 + std::max(56, tick_w + 12), right = 16;
    const int pw = x0 + panel_w - right - left;
    const TextBlock title = fit_text(panel.title, pw, 0.5, 0.35);
    const TextBlock ylab = fit_text(panel.y_label, panel_w - 8, kFontScale);
    const TextBlock xlab = fit_text(panel.x_label, pw, kFontScale);
    const int title_bottom =
        20 + (static_cast<int>(title.lines.size()) - 1) * title.line_h + 5;
    int top = std::max(36, title_bottom + 11);
    // The y label sits above the axis; below the title where they meet.
    const int title_x0 = left + pw / 2 - title.width / 2;
    if (!panel.y_label.empty() && x0 + 4 + ylab.width >= title_x0) {
      top = std::max(top, title_bottom + 4 + ylab.height() + 6);
    }
    const int bottom = std::max(44, 26 + xlab.height());
    const int ph = style.height - top - bottom;
    if (ph < 20 || pw < 40) {
      fail(
          "render_panels - no room left for panel '{}': {{got {}x{} pixels "
          "of plot}}",
          panel.title,
          pw,
          ph);
    }
    auto px = [&](double x) {
      return left +
             static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * pw));
    };
    auto py = [&](double y) {
      return top + ph -
          static_cast<int>(std::lround((y - y_lo) / (y_hi - y_lo) * ph));
    };
    for (double y : y_ticks) {
      cv::line(m, {left, py(y)}, {left + pw, py(y)}, kGrid, 1);
      text(m, tick_label(y), {left - 4, py(y) + 4}, kFontScale, kBlack, 1);
    }
    for (double x : x_ticks) {
      text(m, tick_label(x), {px(x), top + ph + 14}, kFontScale, kBlack, 0);
    }
    cv::rectangle(m, {left, top}, {left + pw, top + ph}, kBlack, 1);
    draw_block(m, title, {left + pw / 2, 20}, kBlack, 0);
    draw_block(
        m,
        xlab,
        {left + pw / 2, style.height - 8 - (xlab.height() - xlab.line_h)},
        kBlack,
        0);
    draw_block(m, ylab, {x0 + 4, top - 8 - (ylab.height() - ylab.line_h)});

    // Series: lines between finite neighbours, a marker on every point.
    const int radius =
        max_points > 1 && pw / static_cast<int>(max_points) < 8 ? 2 : 3;
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
        }
        prev = p;
        have_prev = true;
      }
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
          cv::circle(
              m,
              {px(s.x[i]), py(std::clamp(s.y[i], y_lo, y_hi))},
              radius,
              rgb(c),
              cv::FILLED,
              cv::LINE_AA);
        }
      }
    }

    // Legend, top right inside the plot, on a white box; names are fitted
    // to the plot's width (shrunk, then wrapped), never cut.
    if (!panel.series.empty()) {
      const int swatch = 26;  // line + marker, then the name
      const int max_text = pw - 12 - swatch;
      double scale = kFontScale;
      for (; scale > 0.3 + 1e-9; scale -= 0.05) {
        bool fits = true;
        for (const auto& s : panel.series) {
          fits = fits && text_width(s.name, scale) <= max_text;
        }
        if (fits) {
          break;
        }
      }
      std::vector<TextBlock> names;
      int text_w = 0, rows = 0;
      for (const auto& s : panel.series) {
        names.push_back(fit_text(s.name, max_text, scale, scale));
        text_w = std::max(text_w, names.back().width);
        rows += static_cast<int>(names.back().lines.size());
      }
      const int lh = line_height(scale);
      const int box_w = swatch + text_w + 8;
      const int box_h = rows * lh + 4;
      // The corner whose box covers the fewest points of the series
      // (sampled along the lines); top right on a tie.
      const cv::Point corners[4] = {
          {left + pw - 4 - box_w, top + 4},
          {left + 4, top + 4},
          {left + pw - 4 - box_w, top + ph - 4 - box_h},
          {left + 4, top + ph - 4 - box_h}};
      int best = 0, best_hits = -1;
      for (int ci = 0; ci < 4; ++ci) {
        const cv::Rect box(corners[ci].x, corners[ci].y, box_w, box_h);
        int hits = 0;
        for (const auto& s : panel.series) {
          for (size_t i = 0; i < s.x.size(); ++i) {
            if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
              continue;
            }
            const cv::Point p(px(s.x[i]), py(std::clamp(s.y[i], y_lo, y_hi)));
            hits += box.contains(p) ? 1 : 0;
            const size_t j = i + 1;
            if (j < s.x.size() && std::isfinite(s.x[j]) &&
                std::isfinite(s.y[j])) {
              const cv::Point q(px(s.x[j]), py(std::clamp(s.y[j], y_lo, y_hi)));
              for (int k = 1; k < 16; ++k) {
                hits += box.contains(p + (q - p) * (k / 16.0)) ? 1 : 0;
              }
            }
          }
        }
        if (best_hits < 0 || hits < best_hits) {
          best = ci;
          best_hits = hits;
        }
      }
      const int box_x = corners[best].x;
      const int box_y = corners[best].y;
      cv::rectangle(
          m,
          {box_x, box_y},
          {box_x + box_w, box_y + box_h},
          kWhite,
          cv::FILLED);
      cv::rectangle(
          m, {box_x, box_y}, {box_x + box_w, box_y + box_h}, kGrid, 1);
      int ly = box_y + lh - 2;
      for (size_t si = 0; si < panel.series.size(); ++si) {
        uint8_t c[3];
        series_color(si, c);
        const int mid = ly - lh / 3;
        cv::line(m, {box_x + 4, mid}, {box_x + 20, mid}, rgb(c), 2);
        cv::circle(m, {box_x + 12, mid}, 3, rgb(c), cv::FILLED, cv::LINE_AA);
        draw_block(m, names[si], {box_x + swatch, ly});
        ly += names[si].height();
      }
    }
  }
  return to_image(m);
}

data::Image render_reliability(
    const CalibrationReport& report,
    const std::string& title,
    const PlotStyle& style) {
  if (report.bins.empty()) {
    fail("render_reliability - the report has no bins");
  }
  if (style.width < 240 || style.height < 200) {
    fail(
        "render_reliability - plot too small: {{got {}x{}, need at least "
        "240x200}}",
        style.width,
        style.height);
  }
  cv::Mat m(style.height, style.width, CV_8UC3, kWhite);
  const int left = 56, right = 16;
  const int pw = style.width - left - right;
  const std::string full_title = fmt::format(
      "{}{}ECE {:.2f} %, {} samples",
      title,
      title.empty() ? "" : " - ",
      100 * report.overall.ece,
      report.overall.samples);
  const TextBlock head = fit_text(full_title, style.width - 16, 0.5, 0.35);
  const int top =
      20 + (static_cast<int>(head.lines.size()) - 1) * head.line_h + 18;
  // Main plot, then 22 px of tick labels, the histogram, its ticks and the
  // x label.
  const int avail = style.height - top - 22 - 8 - 36;
  const int ph = avail * 3 / 4;
  const int hh = avail - ph;
  const int y_axis = top + ph;
  const int h_top = y_axis + 22 + 8;
  const int h_axis = h_top + hh;
  auto px = [&](double v) {
    return left + static_cast<int>(std::lround(v * pw));
  };
  auto py = [&](double v) {
    return y_axis - static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * ph));
  };

  for (int t = 0; t <= 5; ++t) {
    const double v = t / 5.0;
    cv::line(m, {left, py(v)}, {left + pw, py(v)}, kGrid, 1);
    text(
        m,
        fmt::format("{:.1f}", v),
        {left - 6, py(v) + 4},
        kFontScale,
        kBlack,
        1);
    text(
        m,
        fmt::format("{:.1f}", v),
        {px(v), y_axis + 14},
        kFontScale,
        kBlack,
        0);
    cv::line(m, {px(v), h_axis}, {px(v), h_axis + 3}, kBlack, 1);
  }
  text(m, "accuracy", {4, top - 6});

  int64_t max_count = 0;
  for (const auto& b : report.bins) {
    max_count = std::max(max_count, b.count);
  }
  for (const auto& b : report.bins) {
    const int x0 = px(b.lower) + 1;
    const int x1 = px(b.upper) - 1;
    if (b.count == 0 || x1 < x0) {
      continue;
    }
    const int ya = py(b.accuracy);
    if (ya < y_axis) {
      cv::rectangle(m, {x0, ya}, {x1, y_axis - 1}, rgb(kBarColor), cv::FILLED);
    }
    // The gap between accuracy and mean confidence, either side of the bar.
    const int yc = py(b.confidence);
    const int g0 = std::min(ya, yc), g1 = std::max(ya, yc);
    if (g1 > g0) {
      blend_rect(
          m, cv::Rect(x0, g0, x1 - x0 + 1, g1 - g0), rgb(kGapColor), 0.5);
    }
    // Histogram of counts (linear, relative to the fullest bin).
    const int h = static_cast<int>(std::lround(
        hh * static_cast<double>(b.count) / static_cast<double>(max_count)));
    if (h > 0) {
      cv::rectangle(
          m, {x0, h_axis - h}, {x1, h_axis - 1}, rgb(kCountColor), cv::FILLED);
    }
  }
  dashed_line(m, {px(0), py(0)}, {px(1), py(1)}, rgb(kDiagonalColor));
  cv::rectangle(m, {left, top}, {left + pw, y_axis}, kBlack, 1);
  cv::rectangle(m, {left, h_top}, {left + pw, h_axis}, kBlack, 1);
  text(
      m,
      fmt::format("{}", max_count),
      {left - 6, h_top + 8},
      kFontScale,
      rgb(kCountColor),
      1);
  text(m, "0", {left - 6, h_axis}, kFontScale, rgb(kCountColor), 1);
  text(m, "count", {4, h_top - 2}, 0.35, rgb(kCountColor));

  // Legend, top left inside the plot (accuracy rises to the right, so the
  // top left is where the bars are lowest).
  {
    const int lx = left + 8, ly = top + 8, lh = line_height(kFontScale);
    cv::rectangle(m, {lx, ly}, {lx + 140, ly + 3 * lh + 4}, kWhite, cv::FILLED);
    cv::rectangle(m, {lx, ly}, {lx + 140, ly + 3 * lh + 4}, kGrid, 1);
    cv::rectangle(
        m,
        {lx + 4, ly + 4},
        {lx + 18, ly + lh - 2},
        rgb(kBarColor),
        cv::FILLED);
    text(m, "accuracy", {lx + 24, ly + lh - 3});
    blend_rect(
        m, cv::Rect(lx + 4, ly + lh + 4, 15, lh - 5), rgb(kGapColor), 0.5);
    text(m, "gap to confidence", {lx + 24, ly + 2 * lh - 3});
    dashed_line(
        m,
        {lx + 4, ly + 3 * lh - 6},
        {lx + 18, ly + 3 * lh - 6},
        rgb(kDiagonalColor));
    text(m, "perfect calibration", {lx + 24, ly + 3 * lh - 3});
  }
  draw_block(m, head, {style.width / 2, 20}, kBlack, 0);
  text(
      m,
      "confidence (max softmax probability)",
      {left + pw / 2, style.height - 10},
      kFontScale,
      kBlack,
      0);
  return to_image(m);
}

data::Image render_scatter(
    const std::vector<double>& x,
    const std::vector<double>& y,
    const std::vector<int64_t>& labels,
    const std::vector<std::string>& class_names,
    const std::vector<ShotGroup>& group_of_class,
    const std::string& title,
    const PlotStyle& style) {
  const int64_t C = static_cast<int64_t>(group_of_class.size());
  if (x.size() != y.size() || x.size() != labels.size()) {
    fail(
        "render_scatter - x, y and labels differ in length: {{got {}, {}, "
        "{}}}",
        x.size(),
        y.size(),
        labels.size());
  }
  if (C == 0) {
    fail("render_scatter - group_of_class is empty (one entry per class)");
  }
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != C) {
    fail(
        "render_scatter - class_names needs one entry per class: {{got {}, "
        "classes {}}}",
        class_names.size(),
        C);
  }
  if (style.width < 240 || style.height < 200) {
    fail(
        "render_scatter - plot too small: {{got {}x{}, need at least "
        "240x200}}",
        style.width,
        style.height);
  }
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (size_t i = 0; i < x.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= C) {
      fail(
          "render_scatter - label out of range: {{point {}, got {}, classes "
          "{}}}",
          i,
          labels[i],
          C);
    }
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      x_lo = std::min(x_lo, x[i]);
      x_hi = std::max(x_hi, x[i]);
      y_lo = std::min(y_lo, y[i]);
      y_hi = std::max(y_hi, y[i]);
    }
  }
  if (!std::isfinite(x_lo)) {
    fail("render_scatter - no finite point among {}", x.size());
  }

  // Legend layout: shrink the font until the entries fit in at most two
  // columns of the image height, wrap names wider than 240 px, and add
  // columns (widening the image) when even that is not enough.
  // The title is wrapped to the requested width (the image is never
  // narrower), the plot starts below it.
  const TextBlock head = fit_text(title, style.width - 16, 0.5, 0.35);
  const int top = std::max(
      40, 20 + (static_cast<int>(head.lines.size()) - 1) * head.line_h + 20);
  // Left margin: room for the widest tick label tick_label() can give (the
  // ticks depend on the equal-scale axis, known only after the layout).
  const int bottom = 40,
            left = std::max(56, text_width("-9.99e+03", kFontScale) + 12);
  const int legend_h = style.height - top - 34 - 12;  // below the group key
  auto name_of = [&](int64_t c) {
    return class_names.empty() ? std::to_string(c) : class_names[c];
  };
  double scale = kFontScale;
  std::vector<TextBlock> names;
  std::vector<int> col_of(static_cast<size_t>(C));
  int cols = 1;
  for (;; scale -= 0.05) {
    names.clear();
    int lh = line_height(scale), used = 0;
    cols = 1;
    for (int64_t c = 0; c < C; ++c) {
      names.push_back(fit_text(name_of(c), 240, scale, scale));
      const int h = std::max(lh, names.back().height());
      if (used > 0 && used + h > legend_h) {
        ++cols;
        used = 0;
      }
      col_of[c] = cols - 1;
      used += h;
    }
    if (cols <= 2 || scale <= 0.3 + 1e-9) {
      break;
    }
  }
  std::vector<int> col_w(cols, 0);
  for (int64_t c = 0; c < C; ++c) {
    col_w[col_of[c]] = std::max(col_w[col_of[c]], 20 + names[c].width + 12);
  }
  int legend_w = 0;
  for (int w : col_w) {
    legend_w += w;
  }
  legend_w = std::max(legend_w, 3 * 80);  // the group key's width
  const int min_plot = std::max(160, style.height - top - bottom);
  const int width = std::max(style.width, left + min_plot + 24 + legend_w + 8);
  cv::Mat m(style.height, width, CV_8UC3, kWhite);
  const int pw = width - left - 24 - legend_w - 8;
  const int ph = style.height - top - bottom;

  // Equal scales: the larger range fills its side, the other is centred.
  const double xr = std::max(x_hi - x_lo, 1e-12),
               yr = std::max(y_hi - y_lo, 1e-12);
  const double unit = std::min((pw - 16) / xr, (ph - 16) / yr);
  const double cx = (x_lo + x_hi) / 2, cy = (y_lo + y_hi) / 2;
  auto px = [&](double v) {
    return left + pw / 2 + static_cast<int>(std::lround((v - cx) * unit));
  };
  auto py = [&](double v) {
    return top + ph / 2 - static_cast<int>(std::lround((v - cy) * unit));
  };
  cv::rectangle(m, {left, top}, {left + pw, top + ph}, kBlack, 1);
  // Ticks over the visible range of each axis.
  const double half_w = pw / 2.0 / unit, half_h = ph / 2.0 / unit;
  for (double vx : nice_ticks(cx - half_w, cx + half_w)) {
    text(m, tick_label(vx), {px(vx), top + ph + 14}, kFontScale, kBlack, 0);
    cv::line(m, {px(vx), top + ph}, {px(vx), top + ph - 4}, kBlack, 1);
  }
  for (double vy : nice_ticks(cy - half_h, cy + half_h)) {
    text(m, tick_label(vy), {left - 4, py(vy) + 4}, kFontScale, kBlack, 1);
    cv::line(m, {left, py(vy)}, {left + 4, py(vy)}, kBlack, 1);
  }

  // Points: many first, then medium, then few (the tail on top).
  const int r = x.size() > 2000 ? 2 : 3;
  for (ShotGroup g : {ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew}) {
    for (size_t i = 0; i < x.size(); ++i) {
      if (group_of_class[labels[i]] != g || !std::isfinite(x[i]) ||
          !std::isfinite(y[i])) {
        continue;
      }
      uint8_t c[3];
      class_color(static_cast<size_t>(labels[i]), static_cast<size_t>(C), c);
      marker(m, {px(x[i]), py(y[i])}, g, rgb(c), r);
    }
  }

  // Group key, then the class legend.
  const int lx = left + pw + 24;
  {
    int kx = lx;
    const char* key_names[3] = {"many", "medium", "few"};
    const ShotGroup key_groups[3] = {
        ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew};
    for (int i = 0; i < 3; ++i) {
      marker(m, {kx + 5, top + 6}, key_groups[i], kBlack, 4);
      text(m, key_names[i], {kx + 14, top + 10});
      kx += 80;
    }
  }
  int cx0 = lx, used = 0, col = 0;
  const int lh = line_height(scale);
  for (int64_t c = 0; c < C; ++c) {
    if (col_of[c] != col) {
      cx0 += col_w[col];
      col = col_of[c];
      used = 0;
    }
    const int base = top + 34 + used;
    uint8_t rgbc[3];
    class_color(static_cast<size_t>(c), static_cast<size_t>(C), rgbc);
    marker(m, {cx0 + 6, base - lh / 3}, group_of_class[c], rgb(rgbc), 4);
    draw_block(m, names[c], {cx0 + 20, base});
    used += std::max(lh, names[c].height());
  }
  draw_block(m, head, {width / 2, 20}, kBlack, 0);
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

void write_reliability_plot(
    const std::string& path,
    const CalibrationReport& report,
    const std::string& title,
    const PlotStyle& style) {
  data::write_png(path, render_reliability(report, title, style));
}

void write_scatter_plot(
    const std::string& path,
    const std::vector<double>& x,
    const std::vector<double>& y,
    const std::vector<int64_t>& labels,
    const std::vector<std::string>& class_names,
    const std::vector<ShotGroup>& group_of_class,
    const std::string& title,
    const PlotStyle& style) {
  data::write_png(
      path,
      render_scatter(x, y, labels, class_names, group_of_class, title, style));
}

}  // namespace ltcl::eval
