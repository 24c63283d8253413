#include "ltcl/util/signals.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace ltcl::util {
namespace {

// The only process-wide state ltcl keeps: a signal handler can reach nothing
// else. Lock-free, so safe to store from the handler.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);
// Installs not yet removed (never touched by the handler).
std::atomic<int> g_depth{0};

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig, std::memory_order_relaxed);
}

}  // namespace

void install_stop_handlers() {
  if (g_depth.fetch_add(1) == 0) {
    g_stop_signal.store(0);
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed terminal / ended ssh session: stop cleanly, checkpoint first.
  sigaction(SIGHUP, &sa, nullptr);
}

void remove_stop_handlers() {
  if (g_depth.load() > 1) {
    g_depth.fetch_sub(1);
    return;  // an outer install (the program's) still holds them
  }
  g_depth.store(0);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);
  g_stop_signal.store(0);
}

bool stop_requested() {
  return g_stop_signal.load(std::memory_order_relaxed) != 0;
}

int stop_signal() {
  return g_stop_signal.load(std::memory_order_relaxed);
}

void clear_stop_request() {
  g_stop_signal.store(0);
}

void request_stop(int signal) {
  g_stop_signal.store(signal);
}

void debug_term_at(const char* phase) {
  const char* v = std::getenv("LTCL_DEBUG_TERM_AT");
  if (v != nullptr && std::strcmp(v, phase) == 0) {
    std::raise(SIGTERM);
  }
}

}  // namespace ltcl::util
