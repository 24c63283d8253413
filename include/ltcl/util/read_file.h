#pragma once
// Reading whole input files safely: only regular files are opened for
// reading (a FIFO, a directory or a device named like a data file gives a
// named ltcl::Error at once, never a hang or an endless read), and a file
// larger than the caller's limit (util/limits.h) is refused before its bytes
// are allocated.
#include <cstdint>
#include <string>
#include <vector>

namespace ltcl::util {

// What `path` is, for messages: "a regular file", "a directory", "a FIFO",
// "a character device", ..., "missing" (lstat of the target, links
// followed).
std::string file_kind(const std::string& path);

// The whole file. Throws ltcl::Error "<who> - <path> is a FIFO, not a
// regular file", "... cannot open ...", "... is N bytes, more than the
// limit of M".
std::vector<uint8_t> read_regular_file(
    const std::string& path, uint64_t max_bytes, const char* who);
std::string read_regular_text(
    const std::string& path, uint64_t max_bytes, const char* who);

// Calls fn(line, number) for every '\n'-separated line of `text` (numbers
// 1-based; a last line without '\n' counts; the '\n' is not passed).
template <typename Fn>
void for_each_line(const std::string& text, Fn&& fn) {
  size_t start = 0;
  size_t number = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    fn(text.substr(start, nl - start), ++number);
    start = nl + 1;
  }
}

}  // namespace ltcl::util
