// PaCo / GPaCo's parametric contrastive loss (losses/paco.h) against a
// naive long-double implementation written here from METHODS.md section
// 10 (loops over anchors and entries), values and gradients (central
// differences of the naive loss), on PaCo's layout (the batch's keys + a
// queue, the anchor's own key left out), GPaCo's (both views as anchors and
// contrast), a contrast set without the anchor, alpha 0 (plain CE on the
// centres), and an anchor whose class has no other sample.
#include "ltcl/losses/paco.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "support.h"

namespace {

using ltcl::losses::paco_loss;
using LD = long double;

struct Case {
  torch::Tensor g, a, y, f, fy, self;
  double alpha, tau;
};

LD naive(const Case& k, const torch::Tensor& g, const torch::Tensor& a,
         const torch::Tensor& f) {
  const int64_t n = g.size(0), c = g.size(1), m = f.size(0), d = a.size(1);
  LD total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t yi = k.y[i].item<int64_t>();
    const int64_t self = k.self[i].item<int64_t>();
    std::vector<LD> l, w;
    for (int64_t j = 0; j < c; ++j) {
      l.push_back(g[i][j].item<double>());
      w.push_back(j == yi ? 1 : 0);
    }
    for (int64_t j = 0; j < m; ++j) {
      if (j == self) {
        continue;
      }
      LD s = 0;
      for (int64_t e = 0; e < d; ++e) {
        s += LD(a[i][e].item<double>()) * f[j][e].item<double>();
      }
      l.push_back(s / k.tau);
      w.push_back(k.fy[j].item<int64_t>() == yi ? k.alpha : 0);
    }
    LD mx = -INFINITY;
    for (LD v : l) {
      mx = std::max(mx, v);
    }
    LD den = 0;
    for (LD v : l) {
      den += std::exp(v - mx);
    }
    const LD log_d = std::log(den);
    LD num = 0, ws = 0;
    for (size_t j = 0; j < l.size(); ++j) {
      num += w[j] * (l[j] - mx - log_d);
      ws += w[j];
    }
    total += -num / ws;
  }
  return total / n;
}

torch::Tensor unit(torch::Tensor t) {
  return torch::nn::functional::normalize(
      t, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

void expect_matches(Case k) {
  auto g = k.g.clone().requires_grad_(true);
  auto a = k.a.clone().requires_grad_(true);
  auto f = k.f.clone().requires_grad_(true);
  auto loss = paco_loss(g, a, k.y, f, k.fy, k.self, k.alpha, k.tau);
  EXPECT_NEAR(loss.item<double>(), static_cast<double>(naive(k, k.g, k.a, k.f)), 1e-12);
  loss.backward();
  const double h = 1e-6;
  auto check = [&](const torch::Tensor& base, const torch::Tensor& grad, const char* what) {
    for (int64_t i = 0; i < base.size(0); i += 2) {
      for (int64_t e = 0; e < base.size(1); e += 3) {
        auto up = base.clone(), down = base.clone();
        up[i][e] += h;
        down[i][e] -= h;
        LD lu, ld;
        if (base.data_ptr() == k.g.data_ptr()) {
          lu = naive(k, up, k.a, k.f), ld = naive(k, down, k.a, k.f);
        } else if (base.data_ptr() == k.a.data_ptr()) {
          lu = naive(k, k.g, up, k.f), ld = naive(k, k.g, down, k.f);
        } else {
          lu = naive(k, k.g, k.a, up), ld = naive(k, k.g, k.a, down);
        }
        EXPECT_NEAR(grad[i][e].item<double>(), static_cast<double>((lu - ld) / (2 * h)), 1e-7)
            << what << "[" << i << "][" << e << "]";
      }
    }
  };
  check(k.g, g.grad(), "dg");
  check(k.a, a.grad(), "da");
  check(k.f, f.grad(), "df");
}

class Paco : public ltcl::test::SeededTest {};

TEST_F(Paco, EqualsANaiveImplementationOnPacoAndGpacoLayouts) {
  const int64_t n = 6, c = 4, d = 5, queue = 7;
  auto y = torch::tensor({0, 0, 1, 2, 0, 3}, torch::kLong);
  auto g = torch::randn({n, c}, torch::kDouble);
  auto q = unit(torch::randn({n, d}, torch::kDouble));
  auto keys = unit(torch::randn({n, d}, torch::kDouble));
  auto qf = unit(torch::randn({queue, d}, torch::kDouble));
  auto qy = torch::tensor({0, 1, 1, 2, 0, 0, 3}, torch::kLong);
  // PaCo: contrast = [the batch's keys ; the queue], own key left out.
  expect_matches({g, q, y, torch::cat({keys, qf}), torch::cat({y, qy}),
                  torch::arange(n), 0.05, 0.2});
  // GPaCo: both views anchors and contrast, each its own sample left out.
  auto both = torch::cat({q, keys});
  auto yy = torch::cat({y, y});
  expect_matches({torch::cat({g, g * 0.5}), both, yy, torch::cat({both, qf}),
                  torch::cat({yy, qy}), torch::arange(2 * n), 0.045, 0.07});
  // The queue alone (no self), CIFAR's tau 0.05 and alpha 0.01.
  expect_matches({g, q, y, qf, qy, torch::full({n}, -1, torch::kLong), 0.01, 0.05});
}

TEST_F(Paco, AlphaZeroIsCrossEntropyOverCentresAndContrast) {
  auto g = torch::randn({5, 3}, torch::kDouble);
  auto y = torch::tensor({0, 1, 2, 2, 0}, torch::kLong);
  auto a = unit(torch::randn({5, 4}, torch::kDouble));
  auto got = paco_loss(g, a, y, a, y, torch::arange(5), 0.0, 0.1);
  // The contrast entries still sit in the denominator: CE over [g ; s].
  auto s = torch::mm(a, a.t()) / 0.1;
  s.fill_diagonal_(-INFINITY);
  auto want = torch::nn::functional::cross_entropy(torch::cat({g, s}, 1), y);
  EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-12);
}

TEST(PacoErrors, BadArgumentsAreNamed) {
  using ltcl::test::expect_error;
  auto g = torch::randn({3, 2});
  auto a = torch::randn({3, 4});
  auto y = torch::tensor({0, 1, 1});
  auto self = torch::arange(3);
  expect_error([&] { paco_loss(g, a, y, a, y, self, -1, 0.1); }, {"alpha"});
  expect_error([&] { paco_loss(g, a, y, a, y, self, 0.1, 0); }, {"tau"});
  expect_error([&] { paco_loss(g, a, y, torch::randn({3, 5}), y, self, 0.1, 0.1); },
               {"contrast set must be [M, 4]"});
  expect_error([&] { paco_loss(g, a, y, a, y, torch::tensor({0, 1, 3}), 0.1, 0.1); },
               {"self_index must be in [-1, 3)"});
}

}  // namespace
