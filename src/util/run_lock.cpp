#include "ltcl/util/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "ltcl/util/error.h"

namespace ltcl::util {

namespace fs = std::filesystem;

FolderLock::FolderLock(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path = (fs::path(dir) / ".ltcl.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    fail("run folder '{}' - cannot create the lock file '{}': {}", dir, path,
         std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
      pid.pop_back();
    }
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      fail(
          "run folder '{}' is in use by another ltcl run (pid {}); wait for "
          "it, stop it, or choose another output.dir",
          dir, pid);
    }
    fail("run folder '{}' - cannot lock '{}': {}", dir, path,
         std::strerror(err));
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] ssize_t w = ::pwrite(fd_, me.data(), me.size(), 0);
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

int remove_stale_temp_files(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // atomic_write's template: "." + target + ".tmp." + 6 characters.
    const auto at = name.rfind(".tmp.");
    if (name.size() > 1 && name[0] == '.' && at != std::string::npos &&
        name.size() - at == 11 && it->is_regular_file(ec)) {
      std::error_code rm;
      if (fs::remove(it->path(), rm)) {
        ++removed;
      }
    }
  }
  return removed;
}

}  // namespace ltcl::util
