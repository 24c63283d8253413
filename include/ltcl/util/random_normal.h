#pragma once
// Standard normal draws from ltcl's keyed Rng (util/random.h): Box-Muller
// pairs, cos then sin, a uniform of 0 redrawn. The same stream gives the
// same values on every machine (no std::normal_distribution, whose
// algorithm the standard leaves open). Used for the initial states that a
// checkpointed module draws itself (ProCo's vMF reset, PaCo's queue).
#include <cstddef>
#include <vector>

#include "ltcl/util/random.h"

namespace ltcl::util {

std::vector<double> standard_normal(Rng& rng, size_t n);

}  // namespace ltcl::util
