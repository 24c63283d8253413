// util::keep_freed_memory: with it, a block far above glibc's largest mmap
// threshold (32 MiB) comes from the heap and stays there after free, so the
// next step's allocation of the same size reuses it (no new mapping).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "ltcl/util/allocator.h"

namespace {

#if defined(__GLIBC__)
constexpr size_t kBlock = size_t{48} << 20;  // 48 MiB

// Allocates kBlock, touches it, and reports how the allocator served it.
struct Served {
  size_t mapped;  // bytes in mmapped blocks while the block was live
  size_t heap;    // bytes of heap (arena) while the block was live
};
Served allocate_once() {
  void* volatile p = std::malloc(kBlock);
  EXPECT_NE(p, nullptr);
  std::memset(p, 1, 4096);
  struct mallinfo2 live = mallinfo2();
  std::free(p);
  return {live.hblkhd, live.arena};
}

TEST(Allocator, KeepsFreedLargeBlocksInTheHeap) {
  // Opting out: nothing changes.
  setenv("LTCL_MALLOC_DEFAULTS", "1", 1);
  EXPECT_FALSE(ltcl::util::keep_freed_memory());
  unsetenv("LTCL_MALLOC_DEFAULTS");
  // Defaults: the block is its own mapping.
  Served before = allocate_once();
  EXPECT_GE(before.mapped, kBlock);

  ASSERT_TRUE(ltcl::util::keep_freed_memory());
  Served first = allocate_once();
  EXPECT_LT(first.mapped, kBlock);  // not mmapped any more
  EXPECT_GE(first.heap, kBlock);    // but from the heap
  // Freed, the heap keeps it (not trimmed) and the next one reuses it.
  EXPECT_GE(mallinfo2().fordblks, kBlock);
  Served second = allocate_once();
  EXPECT_EQ(second.heap, first.heap);
  EXPECT_LT(second.mapped, kBlock);
}
#else
TEST(Allocator, DoesNothingWithoutGlibc) {
  EXPECT_FALSE(ltcl::util::keep_freed_memory());
}
#endif

}  // namespace
