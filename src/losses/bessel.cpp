#include "ltcl/losses/bessel.h"

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "checks.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {
namespace {

// Terms of the Debye series kept (u_0 .. u_6): at order >= 50 the first
// one left out is below 1e-16 relative.
constexpr int kTerms = 7;
// The lowest order the expansion is used at; below, the recurrence.
constexpr double kDebyeOrder = 50.0;

// Coefficients of u_k(t) = sum_j c[k][j] t^j, from DLMF 10.41.10:
//   u_{k+1}(t) = t^2 (1 - t^2) u_k'(t) / 2 + (1/8) int_0^t (1 - 5 s^2) u_k(s) ds,
// u_0 = 1, in long double (the coefficients are rationals of a few digits).
using Poly = std::vector<long double>;
const std::array<Poly, kTerms>& debye_polynomials() {
  static const std::array<Poly, kTerms> u = [] {
    std::array<Poly, kTerms> p;
    p[0] = {1.0L};
    for (int k = 0; k + 1 < kTerms; ++k) {
      const Poly& a = p[k];
      Poly next(a.size() + 3, 0.0L);
      // t^2 (1 - t^2) a'(t) / 2
      for (size_t j = 1; j < a.size(); ++j) {
        const long double d = static_cast<long double>(j) * a[j];
        next[j + 1] += d / 2;
        next[j + 3] -= d / 2;
      }
      // (1/8) int_0^t (1 - 5 s^2) a(s) ds
      for (size_t j = 0; j < a.size(); ++j) {
        next[j + 1] += a[j] / (8.0L * static_cast<long double>(j + 1));
        next[j + 3] -= 5.0L * a[j] / (8.0L * static_cast<long double>(j + 3));
      }
      p[k + 1] = next;
    }
    return p;
  }();
  return u;
}

// log of sum_k u_k(t) / n^k, elementwise in t (n a scalar order).
torch::Tensor log_debye_series(const torch::Tensor& t, double n) {
  const auto& u = debye_polynomials();
  auto sum = torch::ones_like(t);
  double scale = 1.0;
  for (int k = 1; k < kTerms; ++k) {
    scale /= n;
    // Horner on u_k's coefficients.
    const Poly& c = u[k];
    auto v = torch::full_like(t, static_cast<double>(c.back()));
    for (size_t j = c.size() - 1; j-- > 0;) {
      v = v * t + static_cast<double>(c[j]);
    }
    sum = sum + v * scale;
  }
  return torch::log(sum);
}

}  // namespace

LogBesselI log_bessel_i(double nu, const torch::Tensor& x_in) {
  if (!std::isfinite(nu) || nu < 0) {
    fail("log_bessel_i - the order must be finite and >= 0: {{got {}}}", nu);
  }
  if (!x_in.defined() || !x_in.is_floating_point()) {
    fail(
        "log_bessel_i - x must be a floating tensor: {{got {}}}",
        x_in.defined() ? std::string(toString(x_in.scalar_type()))
                       : std::string("undefined"));
  }
  torch::NoGradGuard no_grad;
  const auto x = x_in.detach().to(torch::kDouble);
  if (x.numel() > 0) {
    if (!torch::isfinite(x).all().item<bool>()) {
      fail("log_bessel_i - x holds NaN or infinite values");
    }
    if ((x < 0).any().item<bool>()) {
      fail(
          "log_bessel_i - x must be >= 0: {{got {}}}",
          x.min().item<double>());
    }
  }
  // x = 0 is answered at the end; the arithmetic runs on x = 1 there.
  const auto zero = x == 0;
  const auto xs = torch::where(zero, torch::ones_like(x), x);

  const double M =
      nu >= kDebyeOrder ? nu : nu + std::ceil(kDebyeOrder - nu);
  // log I_M(x) = S + M log(x / (M + S)) - log(2 pi M) / 2 - log(S / M) / 2
  //              + log(series), S = sqrt(M^2 + x^2), t = M / S.
  const auto S0 = torch::sqrt(xs * xs + M * M);
  const auto S1 = torch::sqrt(xs * xs + (M + 1) * (M + 1));
  auto log_i = S0 + M * torch::log(xs / (M + S0)) -
      0.5 * std::log(2 * M_PI * M) - 0.5 * torch::log(S0 / M) +
      log_debye_series(M / S0, M);
  // log(I_{M+1} / I_M), the O(x) terms differenced by hand:
  // S1 - S0 = (2M + 1) / (S1 + S0), and
  // (M+1) log(x / (M+1+S1)) - M log(x / (M+S0))
  //   = log(x / (M+1+S1)) - M log1p((1 + S1 - S0) / (M + S0)).
  const auto dS = (2 * M + 1) / (S1 + S0);
  const auto log_ratio = dS + torch::log(xs / (M + 1 + S1)) -
      M * torch::log1p((1 + dS) / (M + S0)) - 0.5 * std::log((M + 1) / M) -
      0.5 * (torch::log(S1 / (M + 1)) - torch::log(S0 / M)) +
      log_debye_series((M + 1) / S1, M + 1) - log_debye_series(M / S0, M);
  auto ratio = torch::exp(log_ratio);
  // Down to nu: I_{n-1} / I_n = 2n / x + I_{n+1} / I_n.
  for (double n = M; n > nu + 0.5; n -= 1) {
    const auto q = 2 * n / xs + ratio;
    log_i = log_i + torch::log(q);
    ratio = 1 / q;
  }
  log_i = torch::where(
      zero,
      torch::full_like(
          x, nu == 0 ? 0.0 : -std::numeric_limits<double>::infinity()),
      log_i);
  ratio = torch::where(zero, torch::zeros_like(x), ratio);
  return {log_i, ratio};
}

}  // namespace ltcl::losses
