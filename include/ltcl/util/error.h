#pragma once
// ltcl's one exception type for bad user input (files, configs, options).
// Messages name the thing at fault: "Component::method - what was wrong:
// {file/key/line, got ...}". Never assert on user input; throw this.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace ltcl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws ltcl::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ltcl
