// Replays every seed and every finding kept in fuzz/corpus/<target>/ through
// the fuzz entry points (targets.h), with the normal compiler: a reader that
// crashes, leaks an exception other than ltcl::Error or puts raw bytes in a
// message on any of them fails here, in the quick test run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "targets.h"

namespace fs = std::filesystem;

TEST(FuzzReplay, EveryCorpusFileThroughItsEntry) {
  for (const auto& t : ltcl::fuzz::targets()) {
    const fs::path dir = fs::path(LTCL_FUZZ_CORPUS) / t.name;
    ASSERT_TRUE(fs::is_directory(dir)) << "no corpus for " << t.name;
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) {
        continue;
      }
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<uint8_t> bytes(
          (std::istreambuf_iterator<char>(in)),
          std::istreambuf_iterator<char>());
      SCOPED_TRACE(entry.path().string());
      EXPECT_EQ(t.entry(bytes.data(), bytes.size()), 0);
      ++files;
    }
    EXPECT_GE(files, 2u) << t.name << ": the corpus holds seeds for each";
    std::cout << t.name << ": " << files << " corpus files replayed\n";
  }
}
