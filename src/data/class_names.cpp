#include "ltcl/data/class_names.h"

#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

std::vector<std::string> read_names_file(const std::string& path) {
  const std::string text = util::read_regular_text(
      path, limits::kMaxTextFileBytes, "read_names_file");
  std::vector<std::string> names;
  util::for_each_line(text, [&](const std::string& line, size_t number) {
    const auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) {
      return;
    }
    if (line.find('\0') != std::string::npos) {
      fail(
          "read_names_file - NUL byte in a class name: {}:{} {{got '{}'}}",
          path,
          number,
          printable(line));
    }
    if (static_cast<int64_t>(names.size()) >= limits::kMaxClasses) {
      fail(
          "read_names_file - more than {} class names (the limit): {}:{}",
          limits::kMaxClasses,
          path,
          number);
    }
    const auto e = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(b, e - b + 1));
  });
  return names;
}

std::vector<std::string> numbered_names(size_t n) {
  std::vector<std::string> names;
  names.reserve(n);
  for (size_t c = 0; c < n; ++c) {
    names.push_back(std::to_string(c));
  }
  return names;
}

}  // namespace ltcl::data
