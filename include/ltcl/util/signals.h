#pragma once
// Graceful stop: SIGINT / SIGTERM / SIGHUP only set a flag (no work in the
// handler). The `ltcl train` / `study` programs install the handlers first
// thing, so a signal while the data is opened is kept; the Trainer checks
// the flag before its first step and after each step (writes last.pt, exit
// kExitStopped) and keeps the handlers through the final reports (a signal
// there lets them finish).
namespace ltcl::util {

// The exit status of a process that stopped on a signal after writing its
// checkpoint (resumable with --resume), distinct from 0 (finished), 1 (an
// error) and 2 (an internal error). The --nproc launcher counts it as a
// clean end of a rank.
inline constexpr int kExitStopped = 3;

// Installs the handlers for SIGINT, SIGTERM and SIGHUP. Calls nest: the
// first starts with no request; an inner one (the Trainer's, inside the
// program's) keeps a pending request, e.g. a signal while the data was
// opened.
void install_stop_handlers();
// Undoes one install; the last restores the default handlers and clears
// any request.
void remove_stop_handlers();
// Whether a stop was requested since install / clear.
bool stop_requested();
// The signal number that asked (0 = none).
int stop_signal();
void clear_stop_request();
// Asks for a stop as a signal would (tests, other components).
void request_stop(int signal);

// Test hook (docs/training.md): raises SIGTERM on this process when the
// environment variable LTCL_DEBUG_TERM_AT equals `phase` ("start": as the
// program begins, before the data is opened; "report": before the final
// evaluation and reports).
void debug_term_at(const char* phase);

}  // namespace ltcl::util
