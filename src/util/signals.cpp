#include "ltcl/util/signals.h"

#include <atomic>
#include <csignal>

namespace ltcl::util {
namespace {

// The only process-wide state ltcl keeps: a signal handler can reach nothing
// else. Lock-free, so safe to store from the handler.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig, std::memory_order_relaxed);
}

}  // namespace

void install_stop_handlers() {
  g_stop_signal.store(0);
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
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);
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

}  // namespace ltcl::util
