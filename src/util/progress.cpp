#include "ltcl/util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ltcl::util {

bool stdout_is_tty() {
  return ::isatty(STDOUT_FILENO) == 1;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return "?";
  }
  auto s = static_cast<int64_t>(std::llround(seconds));
  int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h > 0) {
    return fmt::format("{}:{:02}:{:02}", h, m, sec);
  }
  return fmt::format("{}:{:02}", m, sec);
}

Progress::Progress(
    std::string label,
    int64_t total,
    bool tty,
    int64_t log_every,
    std::function<void(const std::string&)> sink,
    FILE* out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      tty_(tty),
      log_every_(std::max<int64_t>(log_every, 1)),
      sink_(sink ? std::move(sink)
                 : [](const std::string& s) { spdlog::info("{}", s); }),
      out_(out),
      start_(std::chrono::steady_clock::now()) {}

std::string Progress::render(
    int64_t done,
    double elapsed,
    const std::string& status,
    int width) const {
  done = std::clamp<int64_t>(done, 0, total_);
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  std::string line = label_.empty() ? "" : label_ + " ";
  if (width > 0) {
    int filled = static_cast<int>(width * done / total_);
    line += "[" + std::string(filled, '#') + std::string(width - filled, '.') +
        "] ";
  }
  line += fmt::format(
      "{}/{}  {:.1f} it/s  ETA {}", done, total_, rate, format_duration(eta));
  if (!status.empty()) {
    line += "  " + status;
  }
  return line;
}

void Progress::update(int64_t done, const std::string& status) {
  auto now = std::chrono::steady_clock::now();
  if (first_done_ < 0) {
    first_done_ = done > 0 ? done - 1 : 0;
    first_time_ = start_;
  }
  // The rate counts only steps done in this process (a resumed epoch starts
  // part-way), so the ETA is honest.
  double elapsed =
      std::chrono::duration<double>(now - first_time_).count();
  int64_t counted = done - first_done_;
  double rate = elapsed > 0 ? counted / elapsed : 0;
  double pseudo_elapsed = rate > 0 ? done / rate : 0;
  if (tty_) {
    std::string line = render(done, pseudo_elapsed, status);
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    std::fflush(out_);
  } else if (last_logged_ < 0 || done - last_logged_ >= log_every_ ||
             done == total_) {
    sink_(render(done, pseudo_elapsed, status, 0));
    last_logged_ = done;
  }
}

double run_eta_seconds(double elapsed, int64_t finished, int64_t left) {
  if (finished < 1 || left < 0 || !(elapsed >= 0)) {
    return NAN;
  }
  return elapsed / static_cast<double>(finished) * static_cast<double>(left);
}

void Progress::finish(const std::string& status) {
  double elapsed = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start_)
                       .count();
  std::string line =
      fmt::format("{} done in {}", label_, format_duration(elapsed));
  if (!status.empty()) {
    line += "  " + status;
  }
  if (tty_) {
    std::fprintf(out_, "\r\033[K");
    std::fflush(out_);
  }
  sink_(line);
}

}  // namespace ltcl::util
