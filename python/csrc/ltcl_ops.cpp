// The ltcl Python package's extension, ltcl/_C.so: torch_ops/ops.cpp (the
// TORCH_LIBRARY(ltcl, ...) registrations) and the loss sources it calls,
// compiled as ONE translation unit. Nothing is copied: the files are
// included from the checkout (python/ sits beside src/, include/ and
// torch_ops/). One unit parses <torch/torch.h> once instead of eight times
// (about 1 min instead of 4 on two cores).
//
// The list is minimal: ops.cpp includes classification.h, contrastive.h,
// bessel.h, hybrid.h (psc_loss), paco.h and proco.h; their sources include
// only src/losses/checks.h and ltcl/util/error.h (fmt, header-only here).
// No OpenCV, YAML or other ltcl area is needed. setup.py checks that
// every listed file exists and names the missing one otherwise.
// cpp_extension defines TORCH_API_INCLUDE_EXTENSION_H, which makes
// <torch/torch.h> pull in the pybind11 bindings (torch/extension.h). The ops
// need none of it (they are loaded with torch.ops.load_library), and
// Debian's torch has no pybind11 headers without pybind11-dev.
#undef TORCH_API_INCLUDE_EXTENSION_H

// fmt 11+ moved fmt::join (checks.cpp) to <fmt/ranges.h>; fmt 9 has it too.
#include <fmt/ranges.h>

#include "../../src/losses/checks.cpp"
#include "../../src/losses/classification.cpp"
#include "../../src/losses/contrastive.cpp"
#include "../../src/losses/bessel.cpp"
#include "../../src/losses/hybrid.cpp"
#include "../../src/losses/paco.cpp"
#include "../../src/losses/proco.cpp"
#include "../../src/losses/rescom.cpp"
#include "../../torch_ops/ops.cpp"
