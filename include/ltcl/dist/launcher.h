#pragma once
// spawn_local: run N copies of a program on this machine as one data-parallel
// job (what `ltcl train --nproc N` does; like `torchrun --standalone
// --nproc_per_node N`). Each child gets
//   RANK=r WORLD_SIZE=N LOCAL_RANK=r LOCAL_WORLD_SIZE=N
//   MASTER_ADDR=127.0.0.1 MASTER_PORT=<a free port> OMP_NUM_THREADS=T
// (T = threads_per_process, default max(1, cores / N)), runs in its own
// process group and receives SIGTERM if the launcher dies (PR_SET_PDEATHSIG).
//
// Supervision: SIGINT / SIGTERM received by the launcher are forwarded once
// to every child. When a child exits non-zero or is killed by a signal, the
// others get `failure_grace` to stop by themselves (their collectives fail
// fast when a peer's connection drops, or after the Context timeout), then
// SIGTERM, then after `kill_grace` SIGKILL. spawn_local then throws a
// LaunchError naming the first failed rank and its exit status or signal,
// with every rank's fate in the report.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "ltcl/util/error.h"
#include "ltcl/util/signals.h"

namespace ltcl::dist {

struct LocalLaunchOptions {
  // OMP_NUM_THREADS for each child; 0: max(1, hardware threads / nproc).
  int threads_per_process = 0;
  // 0: ask the kernel for a free port on 127.0.0.1.
  int master_port = 0;
  // Time the surviving ranks get to exit on their own after one failed.
  std::chrono::milliseconds failure_grace{std::chrono::seconds(5)};
  // Time between SIGTERM and SIGKILL when stopping the survivors.
  std::chrono::milliseconds kill_grace{std::chrono::seconds(10)};
  // Non-empty: child r's stdout and stderr go to <log_dir>/rank_<r>.log
  // (created if missing); empty: children share the launcher's.
  std::string log_dir;
  // Extra NAME=VALUE pairs for every child (after the ones above).
  std::vector<std::pair<std::string, std::string>> extra_env;
};

struct RankStatus {
  int rank = 0;
  pid_t pid = 0;
  bool signaled = false;  // killed by a signal (then `signal`), else `code`
  int code = 0;
  int signal = 0;
  bool stopped_by_launcher = false;  // we sent it SIGTERM / SIGKILL
  bool ok() const {
    return !signaled && (code == 0 || code == util::kExitStopped);
  }
  // "rank 1 (pid 123) was killed by signal 9 (Killed)" etc.
  std::string describe() const;
};

struct LaunchReport {
  std::vector<RankStatus> ranks;  // indexed by rank
  int first_failed_rank = -1;     // -1: all succeeded
  int forwarded_signal = 0;       // SIGINT / SIGTERM passed on, or 0
  int master_port = 0;
};

class LaunchError : public Error {
 public:
  LaunchError(const std::string& what, LaunchReport report)
      : Error(what), report_(std::move(report)) {}
  const LaunchReport& report() const {
    return report_;
  }

 private:
  LaunchReport report_;
};

// Runs argv (argv[0]: the program; "/proc/self/exe" re-executes this one)
// as ranks 0..nproc-1 and waits for all. Returns the report when every rank
// exits 0; throws LaunchError when one fails (see above), ltcl::Error for
// nproc < 1, an empty argv, or a program that cannot be executed.
LaunchReport spawn_local(
    int nproc,
    const std::vector<std::string>& argv,
    const LocalLaunchOptions& options = {});

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
int find_free_port();

// The command line that re-executes this program as one rank of a local job:
// "/proc/self/exe", then argv[1..] without the option `name` and its value
// ("--nproc 2" or "--nproc=2"), so that the ranks do not spawn again. For
// `ltcl train --nproc N`: spawn_local(N, relaunch_command(argc, argv)).
std::vector<std::string> relaunch_command(
    int argc, const char* const* argv, const std::string& name = "--nproc");

}  // namespace ltcl::dist
