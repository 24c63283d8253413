#include "ltcl/util/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "ltcl/util/error.h"

namespace ltcl::util {
namespace {

namespace fs = std::filesystem;

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);  // best effort: some file systems refuse directory fsync
    ::close(fd);
  }
}

}  // namespace

void atomic_write(
    const std::string& path,
    const std::function<void(const WriteBytes&)>& writer) {
  fs::path target(path);
  fs::path dir = target.parent_path();
  std::string tmp_template =
      (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmp_template.begin(), tmp_template.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) {
    fail(
        "atomic_write - cannot create a temporary file next to '{}': {}",
        path,
        std::strerror(errno));
  }
  std::string tmp(name.data());
  auto cleanup = [&] {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    ::unlink(tmp.c_str());
  };
  try {
    WriteBytes write = [&](const void* data, size_t size) {
      const char* p = static_cast<const char*>(data);
      while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n < 0) {
          if (errno == EINTR) {
            continue;
          }
          fail(
              "atomic_write - writing '{}' failed: {} (the previous file is "
              "kept; the temporary '{}' is removed)",
              path,
              std::strerror(errno),
              tmp);
        }
        p += n;
        size -= static_cast<size_t>(n);
      }
    };
    writer(write);
    if (::fsync(fd) != 0) {
      fail(
          "atomic_write - writing '{}' failed at fsync: {} (the previous "
          "file is kept)",
          path,
          std::strerror(errno));
    }
    // mkstemp creates 0600; give the file the usual permissions.
    (void)::fchmod(fd, 0644);
    if (::close(fd) != 0) {
      fd = -1;
      fail(
          "atomic_write - writing '{}' failed at close: {} (the previous "
          "file is kept)",
          path,
          std::strerror(errno));
    }
    fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      fail(
          "atomic_write - renaming '{}' to '{}' failed: {}",
          tmp,
          path,
          std::strerror(errno));
    }
  } catch (...) {
    cleanup();
    throw;
  }
  fsync_dir(dir);
}

void atomic_write_text(const std::string& path, const std::string& content) {
  atomic_write(path, [&](const WriteBytes& write) {
    write(content.data(), content.size());
  });
}

}  // namespace ltcl::util
