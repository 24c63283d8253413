#include "ltcl/util/allocator.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ltcl::util {

bool keep_freed_memory() {
  const char* env = std::getenv("LTCL_MALLOC_DEFAULTS");
  if (env != nullptr && std::strcmp(env, "1") == 0) {
    return false;
  }
#if defined(__GLIBC__)
  // M_TRIM_THRESHOLD takes an int: INT_MAX-ish keeps the top of the heap.
  return mallopt(M_MMAP_MAX, 0) == 1 &&
         mallopt(M_TRIM_THRESHOLD, 0x7fffffff) == 1;
#else
  return false;
#endif
}

}  // namespace ltcl::util
