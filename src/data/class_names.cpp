#include "ltcl/data/class_names.h"

#include <fstream>

#include "ltcl/util/error.h"

namespace ltcl::data {

std::vector<std::string> read_names_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    fail("read_names_file - cannot open file: {}", path);
  }
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) {
      continue;
    }
    const auto e = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(b, e - b + 1));
  }
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
