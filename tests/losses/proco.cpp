// ProCo's closed-form logits and loss (losses/proco.h) against a naive
// long-double implementation written here from METHODS.md section 9: log I_nu
// by its power series (a sum of positive terms, log-sum-exp), the logits by
// loops, LA-CE by hand, the gradient by central differences of that naive
// loss. Random long-tailed batches in float64, a class absent from the
// batch, a single class; float32 input keeps its dtype in the gradient.
#include "ltcl/losses/proco.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "support.h"

namespace {

using ltcl::losses::proco_logits;
using ltcl::losses::proco_loss;
using LD = long double;

// log I_nu(x) = log sum_k (x/2)^(2k+nu) / (k! Gamma(k+nu+1)), x > 0.
LD naive_log_i(LD nu, LD x) {
  std::vector<LD> logs;
  LD best = -INFINITY;
  for (int k = 0; k < 5000; ++k) {
    const LD t = (2 * k + nu) * std::log(x / 2) - std::lgamma(LD(k) + 1) -
        std::lgamma(LD(k) + nu + 1);
    logs.push_back(t);
    best = std::max(best, t);
    if (t < best - 80 && k > x) {
      break;
    }
  }
  LD s = 0;
  for (LD t : logs) {
    s += std::exp(t - best);
  }
  return best + std::log(s);
}

struct Batch {
  std::vector<std::vector<LD>> z, mu;
  std::vector<LD> kappa;
  std::vector<int64_t> y;
  std::vector<LD> counts;
  LD tau;
};

std::vector<std::vector<LD>> naive_logits(const Batch& b) {
  const size_t p = b.z[0].size();
  const LD nu = LD(p) / 2 - 1;
  std::vector<std::vector<LD>> out(b.z.size(), std::vector<LD>(b.mu.size()));
  for (size_t i = 0; i < b.z.size(); ++i) {
    for (size_t c = 0; c < b.mu.size(); ++c) {
      LD sq = 0;
      for (size_t d = 0; d < p; ++d) {
        const LD v = b.kappa[c] * b.mu[c][d] + b.z[i][d] / b.tau;
        sq += v * v;
      }
      const LD kt = std::sqrt(sq);
      const LD k = b.kappa[c];
      out[i][c] = nu * std::log(k) - naive_log_i(nu, k) - nu * std::log(kt) +
          naive_log_i(nu, kt);
    }
  }
  return out;
}

LD naive_loss(const Batch& b) {
  auto l = naive_logits(b);
  LD total = 0, n = 0;
  for (LD c : b.counts) {
    n += c;
  }
  for (size_t i = 0; i < l.size(); ++i) {
    LD m = -INFINITY;
    for (size_t c = 0; c < l[i].size(); ++c) {
      l[i][c] += std::log(b.counts[c] / n);
      m = std::max(m, l[i][c]);
    }
    LD s = 0;
    for (LD v : l[i]) {
      s += std::exp(v - m);
    }
    total += m + std::log(s) - l[i][b.y[i]];
  }
  return total / LD(l.size());
}

torch::Tensor to_tensor(const std::vector<std::vector<LD>>& v) {
  std::vector<double> flat;
  for (const auto& r : v) {
    for (LD x : r) {
      flat.push_back(static_cast<double>(x));
    }
  }
  return torch::tensor(flat, torch::kDouble)
      .reshape({static_cast<int64_t>(v.size()), static_cast<int64_t>(v[0].size())});
}

std::vector<std::vector<LD>> unit_rows(const torch::Tensor& t) {
  auto n = torch::nn::functional::normalize(
      t, torch::nn::functional::NormalizeFuncOptions().dim(1));
  std::vector<std::vector<LD>> out(n.size(0), std::vector<LD>(n.size(1)));
  for (int64_t i = 0; i < n.size(0); ++i) {
    for (int64_t d = 0; d < n.size(1); ++d) {
      out[i][d] = n[i][d].item<double>();
    }
  }
  return out;
}

Batch random_batch(int64_t n, int64_t p, std::vector<int64_t> y,
                   std::vector<LD> kappa, LD tau) {
  Batch b;
  b.z = unit_rows(torch::randn({n, p}, torch::kDouble));
  b.mu = unit_rows(torch::randn({static_cast<int64_t>(kappa.size()), p}, torch::kDouble));
  b.kappa = kappa;
  b.y = y;
  b.tau = tau;
  for (size_t c = 0; c < kappa.size(); ++c) {
    b.counts.push_back(LD(100) / LD(1 + 3 * c));  // long-tailed
  }
  return b;
}

void expect_matches_naive(const Batch& b) {
  const auto z = to_tensor(b.z).requires_grad_(true);
  const auto mu = to_tensor(b.mu);
  std::vector<double> k(b.kappa.begin(), b.kappa.end());
  std::vector<double> cnt(b.counts.begin(), b.counts.end());
  const auto kappa = torch::tensor(k, torch::kDouble);
  const auto labels = torch::tensor(b.y, torch::kLong);
  const auto counts = torch::tensor(cnt, torch::kDouble);
  const double tau = static_cast<double>(b.tau);
  // Logits, elementwise.
  const auto got = proco_logits(z, mu, kappa, tau);
  const auto want = naive_logits(b);
  for (size_t i = 0; i < want.size(); ++i) {
    for (size_t c = 0; c < want[i].size(); ++c) {
      EXPECT_NEAR(got[i][c].item<double>(), static_cast<double>(want[i][c]),
                  1e-11 * std::max<double>(1, std::abs(static_cast<double>(want[i][c]))))
          << i << "," << c;
    }
  }
  // Loss and gradient against central differences of the naive loss.
  auto loss = proco_loss(z, labels, mu, kappa, counts, tau);
  EXPECT_NEAR(loss.item<double>(), static_cast<double>(naive_loss(b)), 1e-11);
  loss.backward();
  const auto g = z.grad();
  const LD h = 1e-6L;
  for (size_t i = 0; i < b.z.size(); ++i) {
    for (size_t d = 0; d < b.z[i].size(); ++d) {
      Batch up = b, down = b;
      up.z[i][d] += h;
      down.z[i][d] -= h;
      const double fd = static_cast<double>((naive_loss(up) - naive_loss(down)) / (2 * h));
      EXPECT_NEAR(g[i][d].item<double>(), fd, 1e-7) << "dz[" << i << "][" << d << "]";
    }
  }
}

class ProcoTest : public ltcl::test::SeededTest {};

TEST_F(ProcoTest, LogitsLossAndGradientEqualANaiveImplementation) {
  // p 8 (nu 3), CIFAR's tau 0.1; class 3 absent from the batch.
  expect_matches_naive(random_batch(6, 8, {0, 0, 0, 1, 2, 0}, {5, 20, 2.5, 40}, 0.1L));
  // p 32 (nu 15), ImageNet-LT's tau 0.07; kappa small and large.
  expect_matches_naive(random_batch(5, 32, {1, 0, 2, 2, 0}, {0.3L, 12, 60}, 0.07L));
}

TEST_F(ProcoTest, OneClassGivesZeroLossAndGradient) {
  auto z = torch::nn::functional::normalize(
               torch::randn({4, 8}, torch::kDouble),
               torch::nn::functional::NormalizeFuncOptions().dim(1))
               .requires_grad_(true);
  auto mu = torch::nn::functional::normalize(
      torch::randn({1, 8}, torch::kDouble),
      torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto loss = proco_loss(z, torch::zeros({4}, torch::kLong), mu,
                         torch::tensor({7.0}, torch::kDouble),
                         torch::tensor({10.0}, torch::kDouble), 0.1);
  EXPECT_NEAR(loss.item<double>(), 0.0, 1e-15);
  loss.backward();
  EXPECT_LT(z.grad().abs().max().item<double>(), 1e-15);
}

TEST_F(ProcoTest, Float32InputFloat64LogitsFloat32Gradient) {
  auto z = torch::nn::functional::normalize(
               torch::randn({3, 16}),
               torch::nn::functional::NormalizeFuncOptions().dim(1))
               .requires_grad_(true);
  auto mu = torch::nn::functional::normalize(
      torch::randn({2, 16}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto logits = proco_logits(z, mu, torch::tensor({3.0f, 9.0f}), 0.1);
  EXPECT_EQ(logits.scalar_type(), torch::kDouble);
  logits.sum().backward();
  EXPECT_EQ(z.grad().scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::isfinite(z.grad()).all().item<bool>());
}

TEST(Proco, BadArgumentsAreNamedErrors) {
  using ltcl::test::expect_error;
  auto z = torch::randn({3, 8});
  auto mu = torch::randn({2, 8});
  auto k = torch::tensor({1.0, 2.0});
  expect_error([&] { proco_logits(z, mu, k, 0.0); }, {"tau"});
  expect_error([&] { proco_logits(z, torch::randn({2, 7}), k, 0.1); }, {"mu must be [C, 8]"});
  expect_error([&] { proco_logits(z, mu, torch::tensor({1.0}), 0.1); }, {"kappa must be [2]"});
  expect_error([&] { proco_logits(z, mu, torch::tensor({1.0, -1.0}), 0.1); }, {"kappa must be finite and > 0"});
  expect_error([&] { proco_logits(torch::randn({3}), mu, k, 0.1); }, {"[N, p]"});
  expect_error(
      [&] {
        proco_loss(z, torch::tensor({0, 1, 5}), mu, k, torch::tensor({3.0, 1.0}), 0.1);
      },
      {"proco_loss"});
}

}  // namespace
