#pragma once
// Graceful stop: SIGINT / SIGTERM / SIGHUP only set a flag (no work in the
// handler); the training loop checks stop_requested() after each step, writes a
// checkpoint and exits 0 with a message on how to resume.
namespace ltcl::util {

// The exit status of a process that stopped on a signal after writing its
// checkpoint (resumable with --resume), distinct from 0 (finished), 1 (an
// error) and 2 (an internal error). The --nproc launcher counts it as a
// clean end of a rank.
inline constexpr int kExitStopped = 3;

// Installs the handlers for SIGINT, SIGTERM and SIGHUP (idempotent) and
// clears any earlier request.
void install_stop_handlers();
// Restores the default handlers.
void remove_stop_handlers();
// Whether a stop was requested since install / clear.
bool stop_requested();
// The signal number that asked (0 = none).
int stop_signal();
void clear_stop_request();
// Asks for a stop as a signal would (tests, other components).
void request_stop(int signal);

}  // namespace ltcl::util
