#pragma once
#include <array>
#include <cstdio>
#include <memory>

#include <torch/torch.h>

namespace ltcl::test {

inline int run_command(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) {
    return -1;
  }
  std::array<char, 4096> buf{};
  std::string out;
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    out.append(buf.data(), n);
  }
  int status = pclose(pipe);
  if (output) {
    *output = out;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline void SeededTest::SetUp() {
  torch::manual_seed(0);
  torch::set_num_threads(1);
}

}  // namespace ltcl::test
