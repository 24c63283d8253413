#pragma once
// Class-name helpers shared by the dataset formats.
#include <string>
#include <vector>

namespace ltcl::data {

// Reads one class name a line; surrounding blanks and empty lines are
// dropped. Throws ltcl::Error naming the file if it cannot be opened.
std::vector<std::string> read_names_file(const std::string& path);

// "0", "1", ..., "n-1".
std::vector<std::string> numbered_names(size_t n);

}  // namespace ltcl::data
