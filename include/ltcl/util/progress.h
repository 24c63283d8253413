#pragma once
// Progress of a loop: on a terminal, one self-redrawing line
//   epoch 3/10 [#########.........] 45/100  12.3 it/s  ETA 0:04  loss 1.23
// otherwise (a log file, CI) a plain log line every `log_every` steps and at
// the end, so logs stay readable.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace ltcl::util {

// Whether stdout is a terminal.
bool stdout_is_tty();

// "1:02:03" for hours, "4:05" under an hour.
std::string format_duration(double seconds);

// The whole run's remaining time: `elapsed` seconds for the `finished`
// epochs this process ran (evaluations included), times `left` epochs. NaN
// before the first epoch has finished here (a resumed run counts only its
// own epochs, so a long pause does not distort it).
double run_eta_seconds(double elapsed, int64_t finished, int64_t left);

class Progress {
 public:
  // `sink` receives each plain-mode line (default: spdlog info); `out` is the
  // terminal stream in TTY mode (default: stdout).
  Progress(
      std::string label,
      int64_t total,
      bool tty,
      int64_t log_every = 50,
      std::function<void(const std::string&)> sink = {},
      FILE* out = stdout);

  // `done` steps of `total` are complete; `status` is appended (losses...).
  void update(int64_t done, const std::string& status = "");
  // Ends the bar (newline on a terminal, a final line otherwise).
  void finish(const std::string& status = "");

  // The line for a given state (width = bar cells), for tests and update().
  std::string render(
      int64_t done,
      double elapsed_seconds,
      const std::string& status,
      int width = 24) const;

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  int64_t log_every_;
  std::function<void(const std::string&)> sink_;
  FILE* out_;
  std::chrono::steady_clock::time_point start_;
  int64_t last_logged_ = -1;
  int64_t first_done_ = -1;  // rate counts from the first update (resume)
  std::chrono::steady_clock::time_point first_time_;
};

}  // namespace ltcl::util
