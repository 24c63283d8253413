// The method registry: the twelve built-in methods in their order, each
// with the traits the trainer relies on, an unknown name an error listing
// the registered ones, and every method's name in exactly one source file
// outside tests, recipes and docs (its room).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ltcl/train/config.h"
#include "ltcl/train/method.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::train::method_info;

TEST(MethodRegistry, BuiltInMethodsInOrder) {
  EXPECT_EQ(
      ltcl::train::method_names(),
      (std::vector<std::string>{
          "ce", "la", "bs", "focal", "ldam_drw", "supcon_la", "bcl",
          "bcl_rcl", "rcl", "rescom", "hybrid_sc", "hybrid_psc", "proco", "paco",
          "gpaco"}));
}

TEST(MethodRegistry, TraitsTheTrainerRelieson) {
  EXPECT_EQ(method_info("ce").traits.views, 1);
  EXPECT_FALSE(method_info("ce").traits.projection);
  EXPECT_FALSE(method_info("ldam_drw").traits.drop_last);
  // SyncBN preset on for every method (N processes = 1 process).
  for (const auto& m : ltcl::train::method_names()) {
    EXPECT_TRUE(method_info(m).traits.sync_bn) << m;
  }
  for (const std::string m : {"supcon_la", "bcl", "bcl_rcl", "rcl"}) {
    EXPECT_EQ(method_info(m).traits.views, 3) << m;
    EXPECT_TRUE(method_info(m).traits.projection) << m;
    EXPECT_TRUE(method_info(m).traits.drop_last) << m;
    EXPECT_TRUE(method_info(m).traits.sync_bn) << m;
  }
  EXPECT_EQ(method_info("rescom").traits.views, 2);
  EXPECT_TRUE(method_info("rescom").traits.instance_sampler);
  EXPECT_EQ(
      method_info("hybrid_psc").traits.streams,
      ltcl::train::Streams::kInstanceAndBalanced);
  EXPECT_EQ(
      method_info("bcl").traits.streams, ltcl::train::Streams::kOne);
}

TEST(MethodRegistry, KeysBelongToTheirMethods) {
  EXPECT_EQ(
      ltcl::train::method_keys("focal"),
      (std::vector<std::string>{"loss.focal_gamma"}));
  EXPECT_TRUE(ltcl::train::method_keys("ce").empty());
  auto core = ltcl::train::method_keys("bcl_rcl");
  EXPECT_NE(std::find(core.begin(), core.end(), "loss.la_tau"), core.end());
  EXPECT_NE(std::find(core.begin(), core.end(), "loss.margin_max"), core.end());
  // The listing comes from the registry.
  bool listed = false;
  for (const auto& k : ltcl::train::config_keys()) {
    if (k.key == "loss.method") {
      listed = k.help.find("hybrid_psc") != std::string::npos;
    }
  }
  EXPECT_TRUE(listed);
}

TEST(MethodRegistry, UnknownMethodListsTheRegisteredOnes) {
  ltcl::test::expect_error(
      [] { method_info("bcl_rlc"); }, {"bcl_rlc", "hybrid_psc"});
  EXPECT_THROW(ltcl::train::default_config("x"), ltcl::Error);
}

TEST(MethodRegistry, RegisterAMethodFromOutside) {
  ltcl::train::MethodInfo m;
  m.name = "ce";  // taken
  m.make = [](const ltcl::train::Config&) {
    return std::unique_ptr<ltcl::train::Method>();
  };
  EXPECT_THROW(ltcl::train::register_method(m), ltcl::Error);
  m.name = "";
  EXPECT_THROW(ltcl::train::register_method(m), ltcl::Error);
}

// Every source file under include/, src/, apps/ and torch_ops/.
std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const char* area : {"include", "src", "apps", "torch_ops"}) {
    fs::path root = fs::path(LTCL_TEST_SOURCE_DIR) / area;
    if (!fs::exists(root)) {
      continue;
    }
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".h" || ext == ".cpp")) {
        out.push_back(e.path());
      }
    }
  }
  return out;
}

TEST(MethodRegistry, EachMethodNameLivesInOneSourceFile) {
  std::map<fs::path, std::string> text;
  for (const auto& p : sources()) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    text[p] = ss.str();
  }
  ASSERT_GT(text.size(), 50u);
  for (const auto& name : ltcl::train::method_names()) {
    std::vector<std::string> where;
    for (const auto& [p, t] : text) {
      if (t.find("\"" + name + "\"") != std::string::npos) {
        where.push_back(fs::relative(p, LTCL_TEST_SOURCE_DIR).string());
      }
    }
    ASSERT_EQ(where.size(), 1u)
        << "method '" << name << "' is named in " << where.size()
        << " source files: " << ::testing::PrintToString(where);
    EXPECT_EQ(where[0].rfind("src/train/methods/", 0), 0u) << where[0];
  }
}

}  // namespace
