#pragma once
// log I_nu(x), the modified Bessel function of the first kind, and the
// ratio I_{nu+1}(x) / I_nu(x), in float64, accurate over the whole range
// ProCo meets (METHODS.md section 9: orders p/2 - 1 for p = 32 .. 2048,
// arguments from ~0 to 1e5 and beyond), elementwise on a tensor.
//
// Method (no series that needs O(x) terms, no overflow: everything in logs):
//  - order M >= 50: Debye's uniform asymptotic expansion (DLMF 10.41.3),
//      I_M(M z) ~ e^{M eta} / ((2 pi M)^{1/2} (1 + z^2)^{1/4})
//                 * sum_{k=0}^{6} u_k(t) / M^k,
//      t = 1 / sqrt(1 + z^2), eta = sqrt(1 + z^2) + log(z / (1 + sqrt(1 + z^2))),
//    with the polynomials u_k from their recursion (DLMF 10.41.10); the
//    ratio I_{M+1} / I_M from the difference of two such expansions, its
//    large terms differenced analytically (no cancellation at large x);
//  - order nu < 50: M = nu + ceil(50 - nu), then the backward recurrence
//    I_{n-1} / I_n = 2n / x + I_{n+1} / I_n down to nu (stable for I),
//    summing the logs of the ratios.
// Checked against 50-digit mpmath values (tests/losses/bessel.cpp): relative
// error of log I below 1e-14 for nu >= 3 (absolute below 1e-12 when
// |log I| < 1, nu < 3), of the ratio below 1e-14, for x in [1e-8, 1e6].
// The official ProCo code's Miller recurrence drifts above x ~ 1000 and has
// an aliasing fault (METHODS.md section 9); this one does not.
#include <torch/types.h>

namespace ltcl::losses {

struct LogBesselI {
  torch::Tensor log_i;  // log I_nu(x); -inf at x = 0 for nu > 0 (0 for nu 0)
  torch::Tensor ratio;  // I_{nu+1}(x) / I_nu(x), in [0, 1); 0 at x = 0
};

// Elementwise on `x` (any shape, values >= 0 and finite; computed in
// float64 on x's device, returned as float64). No autograd: the derivative
// is d log I_nu(x) / dx = ratio + nu / x. Throws ltcl::Error for nu < 0 or
// not finite, and for a negative, NaN or infinite x.
LogBesselI log_bessel_i(double nu, const torch::Tensor& x);

}  // namespace ltcl::losses
