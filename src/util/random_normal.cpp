#include "ltcl/util/random_normal.h"

#include <cmath>

namespace ltcl::util {

std::vector<double> standard_normal(Rng& rng, size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; i += 2) {
    double u1 = rng.uniform();
    while (u1 <= 0.0) {
      u1 = rng.uniform();
    }
    const double u2 = rng.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    v[i] = r * std::cos(2 * M_PI * u2);
    if (i + 1 < n) {
      v[i + 1] = r * std::sin(2 * M_PI * u2);
    }
  }
  return v;
}

}  // namespace ltcl::util
