#include "ltcl/dist/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

extern char** environ;

namespace ltcl::dist {

namespace {

// The launcher's SIGINT / SIGTERM, for the supervision loop to forward. A
// signal handler can only talk through a static of this type.
volatile std::sig_atomic_t pending_signal = 0;

extern "C" void remember_signal(int sig) {
  pending_signal = sig;
}

// Installs remember_signal for SIGINT and SIGTERM; restores on destruction.
class SignalForwarding {
 public:
  SignalForwarding() {
    pending_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = remember_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalForwarding() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string signal_name(int sig) {
  const char* s = strsignal(sig);
  return s ? s : "unknown";
}

using Clock = std::chrono::steady_clock;

}  // namespace

std::string RankStatus::describe() const {
  std::string s =
      signaled ? fmt::format(
                     "rank {} (pid {}) was killed by signal {} ({})",
                     rank,
                     pid,
                     signal,
                     signal_name(signal))
               : fmt::format(
                     "rank {} (pid {}) exited with status {}", rank, pid, code);
  if (stopped_by_launcher) {
    s += " after the launcher stopped it";
  }
  return s;
}

int find_free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail("dist::find_free_port - socket(): {}", std::strerror(errno));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    fail("dist::find_free_port - bind/getsockname: {}", std::strerror(err));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::vector<std::string> relaunch_command(
    int argc, const char* const* argv, const std::string& name) {
  std::vector<std::string> out{"/proc/self/exe"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == name) {
      ++i;  // skip its value too
      continue;
    }
    if (a.rfind(name + "=", 0) == 0) {
      continue;
    }
    out.push_back(a);
  }
  return out;
}

LaunchReport spawn_local(
    int nproc,
    const std::vector<std::string>& argv,
    const LocalLaunchOptions& options) {
  constexpr int kMaxProcs = 1024;
  if (nproc < 1 || nproc > kMaxProcs) {
    fail(
        "dist::spawn_local - nproc must lie in [1, {}]: {{got {}}}",
        kMaxProcs,
        nproc);
  }
  if (argv.empty() || argv[0].empty()) {
    fail("dist::spawn_local - empty command line");
  }
  if (options.threads_per_process < 0) {
    fail(
        "dist::spawn_local - threads_per_process must be >= 0: {{got {}}}",
        options.threads_per_process);
  }
  const int cores =
      std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int threads = options.threads_per_process > 0
                          ? options.threads_per_process
                          : std::max(1, cores / nproc);
  LaunchReport report;
  report.master_port =
      options.master_port > 0 ? options.master_port : find_free_port();
  if (!options.log_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.log_dir, ec);
    if (ec) {
      fail(
          "dist::spawn_local - cannot create log_dir '{}': {}",
          options.log_dir,
          ec.message());
    }
  }

  // Everything the children need is built before fork(): between fork and
  // exec only async-signal-safe calls are allowed.
  const std::set<std::string> ours{
      "RANK",
      "WORLD_SIZE",
      "LOCAL_RANK",
      "LOCAL_WORLD_SIZE",
      "MASTER_ADDR",
      "MASTER_PORT",
      "OMP_NUM_THREADS"};
  std::vector<std::string> base_env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    const std::string name = kv.substr(0, kv.find('='));
    if (!ours.count(name)) {
      base_env.push_back(std::move(kv));
    }
  }
  std::vector<char*> child_argv;
  for (const auto& a : argv) {
    child_argv.push_back(const_cast<char*>(a.c_str()));
  }
  child_argv.push_back(nullptr);

  SignalForwarding forwarding;
  const pid_t launcher_pid = getpid();
  report.ranks.resize(nproc);
  std::vector<bool> alive(nproc, false);

  auto kill_alive = [&](int sig) {
    for (int r = 0; r < nproc; ++r) {
      if (alive[r]) {
        kill(report.ranks[r].pid, sig);
        report.ranks[r].stopped_by_launcher = true;
      }
    }
  };
  auto reap_all = [&]() {
    for (int r = 0; r < nproc; ++r) {
      if (alive[r]) {
        int st = 0;
        waitpid(report.ranks[r].pid, &st, 0);
        alive[r] = false;
      }
    }
  };

  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> env = base_env;
    env.push_back(fmt::format("RANK={}", r));
    env.push_back(fmt::format("WORLD_SIZE={}", nproc));
    env.push_back(fmt::format("LOCAL_RANK={}", r));
    env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", nproc));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back(fmt::format("MASTER_PORT={}", report.master_port));
    env.push_back(fmt::format("OMP_NUM_THREADS={}", threads));
    for (const auto& [k, v] : options.extra_env) {
      env.push_back(k + "=" + v);
    }
    std::vector<char*> envp;
    for (auto& kv : env) {
      envp.push_back(kv.data());
    }
    envp.push_back(nullptr);

    int log_fd = -1;
    if (!options.log_dir.empty()) {
      const std::string path = (std::filesystem::path(options.log_dir) /
                                fmt::format("rank_{}.log", r))
                                   .string();
      log_fd =
          open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log_fd < 0) {
        const int err = errno;
        kill_alive(SIGKILL);
        reap_all();
        fail(
            "dist::spawn_local - cannot open log file '{}': {}",
            path,
            std::strerror(err));
      }
    }
    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
      const int err = errno;
      kill_alive(SIGKILL);
      reap_all();
      fail("dist::spawn_local - pipe2: {}", std::strerror(err));
    }
    const pid_t pid = fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != launcher_pid) {
        _exit(1);
      }
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      if (log_fd >= 0) {
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
      }
      execve(child_argv[0], child_argv.data(), envp.data());
      const int err = errno;
      ssize_t ignored = write(exec_pipe[1], &err, sizeof(err));
      (void)ignored;
      _exit(127);
    }
    const int fork_errno = errno;
    close(exec_pipe[1]);
    if (log_fd >= 0) {
      close(log_fd);
    }
    if (pid < 0) {
      close(exec_pipe[0]);
      kill_alive(SIGKILL);
      reap_all();
      fail("dist::spawn_local - fork: {}", std::strerror(fork_errno));
    }
    report.ranks[r].rank = r;
    report.ranks[r].pid = pid;
    alive[r] = true;
    int exec_errno = 0;
    ssize_t got = 0;
    do {
      got = read(exec_pipe[0], &exec_errno, sizeof(exec_errno));
    } while (got < 0 && errno == EINTR);
    close(exec_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof(exec_errno))) {
      kill_alive(SIGKILL);
      reap_all();
      fail(
          "dist::spawn_local - cannot execute '{}': {}",
          argv[0],
          std::strerror(exec_errno));
    }
  }

  // Supervision.
  Clock::time_point failed_at{};
  Clock::time_point term_at{};
  bool term_sent = false;
  bool kill_sent = false;
  int running = nproc;
  while (running > 0) {
    if (pending_signal != 0) {
      const int sig = pending_signal;
      pending_signal = 0;
      if (report.forwarded_signal == 0) {
        report.forwarded_signal = sig;
      }
      for (int r = 0; r < nproc; ++r) {
        if (alive[r]) {
          kill(report.ranks[r].pid, sig);
        }
      }
    }
    for (int r = 0; r < nproc; ++r) {
      if (!alive[r]) {
        continue;
      }
      int st = 0;
      const pid_t got = waitpid(report.ranks[r].pid, &st, WNOHANG);
      if (got != report.ranks[r].pid) {
        continue;
      }
      alive[r] = false;
      --running;
      RankStatus& rs = report.ranks[r];
      if (WIFSIGNALED(st)) {
        rs.signaled = true;
        rs.signal = WTERMSIG(st);
      } else {
        rs.code = WEXITSTATUS(st);
      }
      if (!rs.ok() && report.first_failed_rank < 0) {
        report.first_failed_rank = r;
        failed_at = Clock::now();
      }
    }
    if (running == 0) {
      break;
    }
    const auto now = Clock::now();
    if (report.first_failed_rank >= 0 && !term_sent &&
        now - failed_at >= options.failure_grace) {
      kill_alive(SIGTERM);
      term_sent = true;
      term_at = now;
    }
    if (term_sent && !kill_sent && now - term_at >= options.kill_grace) {
      kill_alive(SIGKILL);
      kill_sent = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  if (report.first_failed_rank >= 0) {
    const RankStatus& first = report.ranks[report.first_failed_rank];
    std::string others;
    for (const auto& rs : report.ranks) {
      if (rs.rank != first.rank) {
        others += (others.empty() ? "" : "; ") + rs.describe();
      }
    }
    std::string where =
        options.log_dir.empty()
            ? std::string()
            : fmt::format(
                  " (logs: {}/rank_{}.log)", options.log_dir, first.rank);
    throw LaunchError(
        fmt::format(
            "dist::spawn_local - rank {} of {} failed: {}{}{}",
            first.rank,
            nproc,
            first.describe(),
            where,
            others.empty() ? "" : " [then: " + others + "]"),
        report);
  }
  return report;
}

}  // namespace ltcl::dist
