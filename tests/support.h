#pragma once
// Shared test helpers: a seeding fixture, temporary folders, ../shared lookup,
// expected errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>

#include "ltcl/util/error.h"
#include "test_paths.h"

namespace ltcl::test {

namespace fs = std::filesystem;

// Path of a dataset under ../shared/datasets; empty when not present (the
// caller then GTEST_SKIPs: the product never needs ../shared, tests may;
// CTest runs those cases as <program>.shared and reports them "Skipped").
// LTCL_SHARED_DIR, when set, stands for ../shared (a folder that does not
// exist shows what a clone without ../shared runs).
inline fs::path shared_dataset(const std::string& relative) {
  const char* env = std::getenv("LTCL_SHARED_DIR");
  fs::path p = fs::path(env ? env : LTCL_TEST_SHARED_DIR) / "datasets" /
      relative;
  return fs::exists(p) ? p : fs::path();
}

// A fresh, empty temporary folder, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
        ("ltcl_test_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const {
    return path_;
  }
  fs::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  fs::path path_;
};

// Path of the built `ltcl` program (set by CTest), for end-to-end tests.
inline std::string cli_path() {
  const char* p = std::getenv("LTCL_CLI");
  return p ? p : std::string(LTCL_TEST_BINARY_DIR) + "/ltcl";
}

// Runs a shell command; returns its exit status and fills `output` with
// stdout + stderr.
int run_command(const std::string& command, std::string* output);

// EXPECTs that `fn()` throws an ltcl::Error whose what() contains every one
// of `needles`; prints the message when a needle is missing. Any other
// exception escapes to GoogleTest, which fails the test.
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
  } catch (const ltcl::Error& e) {
    const std::string what = e.what();
    for (const auto& needle : needles) {
      EXPECT_NE(what.find(needle), std::string::npos)
          << "'" << needle << "' not in: " << what;
    }
    return;
  }
  std::string wanted;
  for (const auto& needle : needles) {
    wanted += (wanted.empty() ? "'" : ", '") + needle + "'";
  }
  ADD_FAILURE() << "expected ltcl::Error containing " << wanted;
}

// Seeds every random source tests use (torch and std) per test.
class SeededTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace ltcl::test

// Implementations are header-inline so each test binary stays one file.
#include "support_impl.h"
