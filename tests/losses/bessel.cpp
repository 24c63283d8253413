// log I_nu(x) and I_{nu+1}(x) / I_nu(x) (losses/bessel.h) against 50-digit
// values computed independently with mpmath (tests/losses/
// make_bessel_reference.py wrote tests/losses/data/bessel_reference.txt),
// over the orders ProCo uses and x from 1e-8 to 1e6; the edge values, the
// derivative identity, and the named errors.
#include "ltcl/losses/bessel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support.h"
#include "test_paths.h"

namespace {

using ltcl::losses::log_bessel_i;

struct Reference {
  double nu, x, log_i, ratio;
};

std::vector<Reference> reference() {
  std::ifstream in(std::string(LTCL_TEST_SOURCE_DIR) +
                   "/tests/losses/data/bessel_reference.txt");
  std::vector<Reference> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream s(line);
    Reference r{};
    s >> r.nu >> r.x >> r.log_i >> r.ratio;
    out.push_back(r);
  }
  return out;
}

TEST(Bessel, LogIAndRatioEqualHighPrecisionValues) {
  const auto refs = reference();
  ASSERT_EQ(refs.size(), 154u);  // 11 orders x 14 arguments
  // One call per order, on all its arguments at once (the vectorised path).
  std::map<double, std::vector<Reference>> by_order;
  for (const auto& r : refs) {
    by_order[r.nu].push_back(r);
  }
  double worst_log = 0, worst_ratio = 0;
  for (const auto& [nu, rs] : by_order) {
    std::vector<double> xs;
    for (const auto& r : rs) {
      xs.push_back(r.x);
    }
    const auto got = log_bessel_i(nu, torch::tensor(xs, torch::kDouble));
    ASSERT_EQ(got.log_i.scalar_type(), torch::kDouble);
    for (size_t i = 0; i < rs.size(); ++i) {
      const double l = got.log_i[i].item<double>();
      const double q = got.ratio[i].item<double>();
      // Relative to |log I| where it exceeds 1, absolute below.
      const double el = std::abs(l - rs[i].log_i) / std::max(1.0, std::abs(rs[i].log_i));
      const double eq = std::abs(q - rs[i].ratio) / rs[i].ratio;
      worst_log = std::max(worst_log, el);
      worst_ratio = std::max(worst_ratio, eq);
      EXPECT_LT(el, nu >= 3 ? 1e-14 : 1e-12)
          << "log I_" << nu << "(" << rs[i].x << "): " << l << " vs "
          << rs[i].log_i;
      EXPECT_LT(eq, 1e-14) << "I_" << nu + 1 << "/I_" << nu << "("
                           << rs[i].x << "): " << q << " vs " << rs[i].ratio;
    }
  }
  std::cout << "worst relative error: log I " << worst_log << ", ratio "
            << worst_ratio << "\n";
}

// x = 0: I_0(0) = 1, I_nu(0) = 0 for nu > 0; the ratio 0. Any shape.
TEST(Bessel, EdgesAndShapes) {
  auto z = log_bessel_i(0, torch::zeros({2, 1}));
  EXPECT_TRUE(torch::equal(z.log_i, torch::zeros({2, 1}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(z.ratio, torch::zeros({2, 1}, torch::kDouble)));
  auto p = log_bessel_i(63, torch::tensor({0.0, 2.0}));
  EXPECT_TRUE(std::isinf(p.log_i[0].item<double>()));
  EXPECT_LT(p.log_i[0].item<double>(), 0);
  EXPECT_TRUE(std::isfinite(p.log_i[1].item<double>()));
  // float32 input, float64 output; empty input.
  EXPECT_EQ(log_bessel_i(15, torch::ones({3}, torch::kFloat)).log_i.scalar_type(),
            torch::kDouble);
  EXPECT_EQ(log_bessel_i(15, torch::ones({0})).log_i.numel(), 0);
  // I_{1/2}(x) = sqrt(2 / (pi x)) sinh(x): closed form at moderate x.
  for (double x : {0.3, 2.0, 17.0}) {
    const double want = 0.5 * std::log(2.0 / (M_PI * x)) + std::log(std::sinh(x));
    EXPECT_NEAR(
        log_bessel_i(0.5, torch::tensor({x}, torch::kDouble)).log_i.item<double>(),
        want, 1e-13)
        << x;
  }
}

// d log I_nu(x) / dx = ratio + nu / x, checked by central differences of
// log I itself (a consistency check between the two outputs).
TEST(Bessel, RatioIsTheDerivativeOfTheLog) {
  for (double nu : {15.0, 63.0, 511.0}) {
    for (double x : {3.0, 90.0, 402.5, 4000.0}) {
      const double h = 1e-4 * x;
      auto xs = torch::tensor({x - h, x, x + h}, torch::kDouble);
      auto r = log_bessel_i(nu, xs);
      const double fd =
          (r.log_i[2].item<double>() - r.log_i[0].item<double>()) / (2 * h);
      EXPECT_NEAR(r.ratio[1].item<double>() + nu / x, fd, 1e-7 * std::max(1.0, fd))
          << nu << " " << x;
    }
  }
}

TEST(Bessel, BadInputIsANamedError) {
  using ltcl::test::expect_error;
  expect_error([] { log_bessel_i(-1, torch::ones({1})); }, {"order", "got -1"});
  expect_error(
      [] { log_bessel_i(3, torch::tensor({1.0, -2.0})); }, {"x must be >= 0", "-2"});
  expect_error(
      [] { log_bessel_i(3, torch::tensor({std::nan("")})); }, {"NaN or infinite"});
  expect_error(
      [] { log_bessel_i(3, torch::ones({2}, torch::kLong)); }, {"floating"});
}

}  // namespace
