// One libFuzzer harness: LTCL_FUZZ_TARGET names the entry of targets.h
// (fuzz/CMakeLists.txt builds this file once per target).
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ltcl::fuzz::LTCL_FUZZ_TARGET(data, size);
}
