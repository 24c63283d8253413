#include "ltcl/util/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ltcl/util/error.h"

namespace ltcl::util {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISREG(mode)) {
    return "a regular file";
  }
  if (S_ISDIR(mode)) {
    return "a directory";
  }
  if (S_ISFIFO(mode)) {
    return "a FIFO";
  }
  if (S_ISCHR(mode)) {
    return "a character device";
  }
  if (S_ISBLK(mode)) {
    return "a block device";
  }
  if (S_ISSOCK(mode)) {
    return "a socket";
  }
  return "not a regular file";
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

template <typename Bytes>
Bytes read_into(const std::string& path, uint64_t max_bytes, const char* who) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block forever.
  // Regular files ignore the flag.
  Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) {
    const int e = errno;
    fail("{} - cannot open file {}: {}", who, path, std::strerror(e));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    const int e = errno;
    fail("{} - cannot stat file {}: {}", who, path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    fail(
        "{} - {} is {}, expected a regular file",
        who,
        path,
        kind_of(st.st_mode));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    fail(
        "{} - file {} is {} bytes, more than the limit of {} bytes",
        who,
        path,
        size,
        max_bytes);
  }
  Bytes out(static_cast<size_t>(size), 0);
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(f.fd, &out[done], out.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int e = errno;
      fail("{} - cannot read file {}: {}", who, path, std::strerror(e));
    }
    if (n == 0) {
      // Shrunk while being read: keep what is there (the parser will find
      // it short and say so).
      out.resize(done);
      break;
    }
    done += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace

std::string file_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "missing";
  }
  return kind_of(st.st_mode);
}

std::vector<uint8_t> read_regular_file(
    const std::string& path, uint64_t max_bytes, const char* who) {
  return read_into<std::vector<uint8_t>>(path, max_bytes, who);
}

std::string read_regular_text(
    const std::string& path, uint64_t max_bytes, const char* who) {
  return read_into<std::string>(path, max_bytes, who);
}

}  // namespace ltcl::util
