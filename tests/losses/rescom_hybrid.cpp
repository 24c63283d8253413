// ResCom (class-balanced weights, mined contrastive loss, Siamese BS) and
// Hybrid-PSC (prototype loss, curriculum) against naive loops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "ltcl/losses/classification.h"
#include "ltcl/losses/hybrid.h"
#include "ltcl/losses/rescom.h"
#include "ltcl/models/heads.h"
#include "ltcl/util/error.h"
#include "naive.h"
#include "support.h"

namespace {

using namespace ltcl::losses;
namespace F = ltcl::losses::functional;
using ltcl::test::dot;
using ltcl::test::rows;
using ltcl::test::Vec;

class ResComTest : public ltcl::test::SeededTest {};

torch::Tensor unit(torch::Tensor t) {
  return t / t.norm(2, -1, true);
}

TEST_F(ResComTest, ClassBalancedWeightsHandComputed) {
  // beta 0.5, counts (1, 2): E = (1, 1.5), mean 1.25 -> w = (1.25, 5/6).
  auto w = class_balanced_weights({1, 2}, 0.5);
  EXPECT_NEAR(w[0].item<float>(), 1.25f, 1e-6);
  EXPECT_NEAR(w[1].item<float>(), 1.25f / 1.5f, 1e-6);
  // beta 0.999999: E_c ~ n_c for n << 1e6, so w ~ mean(n) / n_c.
  auto w2 = class_balanced_weights({100, 10, 1});
  EXPECT_NEAR(w2[2].item<float>(), 37.0f, 37.0f * 1e-4);
  EXPECT_NEAR(w2[0].item<float>(), 0.37f, 0.37f * 1e-4);
  EXPECT_THROW(class_balanced_weights({4, 0}), ltcl::Error);
}

// Naive ResCom loss: loops, sorting for the mining.
double naive_rescom(
    const torch::Tensor& features,
    const std::vector<int64_t>& labels,
    const torch::Tensor& keys,   // [C, Q, D]
    const torch::Tensor& valid,  // [C, Q]
    const std::vector<double>& weights,
    double tau,
    int k_pos,
    int k_neg) {
  const int64_t b = features.size(0), v = features.size(1);
  const int64_t c = keys.size(0), q = keys.size(1);
  std::vector<Vec> z;
  std::vector<int64_t> y;
  for (int64_t j = 0; j < b; ++j) {
    auto r = rows(features[j]);
    for (int64_t w = 0; w < v; ++w) {
      z.push_back(r[w]);
      y.push_back(labels[j]);
    }
  }
  double loss = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    std::vector<double> all, pos;
    for (size_t k = 0; k < z.size(); ++k) {
      if (k == i) {
        continue;
      }
      all.push_back(dot(z[i], z[k]) / tau);
      if (y[k] == y[i]) {
        pos.push_back(all.back());
      }
    }
    std::vector<double> same, other;
    for (int64_t cls = 0; cls < c; ++cls) {
      auto kr = rows(keys[cls]);
      for (int64_t s = 0; s < q; ++s) {
        if (!valid[cls][s].item<bool>()) {
          continue;
        }
        (cls == y[i] ? same : other).push_back(dot(z[i], kr[s]));
      }
    }
    std::sort(same.begin(), same.end());      // least similar first
    std::sort(other.rbegin(), other.rend());  // most similar first
    for (int k = 0; k < std::min<int>(k_pos, same.size()); ++k) {
      all.push_back(same[k] / tau);
      pos.push_back(same[k] / tau);
    }
    for (int k = 0; k < std::min<int>(k_neg, other.size()); ++k) {
      all.push_back(other[k] / tau);
    }
    if (pos.empty()) {
      continue;
    }
    double denom = 0;
    for (double a : all) {
      denom += std::exp(a);
    }
    double li = 0;
    for (double p : pos) {
      li += -std::log(std::exp(p) / denom);
    }
    loss += weights[y[i]] * li / pos.size();
  }
  return loss / z.size();
}

TEST_F(ResComTest, ContrastiveMatchesNaiveWithPartlyFilledQueue) {
  const int64_t c = 4, q = 3, d = 5;
  ltcl::models::ClassBalancedQueue queue(
      ltcl::models::ClassBalancedQueueOptions(c, d).per_class(q));
  // Class 0 full, class 1 one key, class 2 full (wrapped), class 3 empty.
  queue->enqueue(
      unit(torch::randn({9, d})), torch::tensor({0, 0, 0, 0, 1, 2, 2, 2, 2}));
  auto keys = queue->keys.to(torch::kDouble);
  auto valid = queue->valid_mask();
  auto f = unit(torch::randn({6, 2, d}, torch::kDouble));
  // Class 3 appears once: its anchors' only positive is the other view.
  std::vector<int64_t> labels = {0, 1, 1, 2, 3, 0};
  auto y = torch::tensor(labels);
  std::vector<double> w = {0.5, 1.0, 1.5, 3.0};
  auto wt = torch::tensor(w, torch::kDouble);
  for (auto [kp, kn] : {std::pair<int, int>{1, 400}, {2, 3}, {0, 0}}) {
    auto o = ResComLossOptions().temperature(0.2).k_pos(kp).k_neg(kn);
    EXPECT_NEAR(
        F::rescom_contrastive_loss(f, y, keys, valid, wt, o).item<double>(),
        naive_rescom(f, labels, keys, valid, w, 0.2, kp, kn),
        1e-10)
        << kp << " " << kn;
  }
  // V = 1: anchors of classes seen once and absent from the queue add 0.
  auto f1 = unit(torch::randn({4, 1, d}, torch::kDouble));
  std::vector<int64_t> l1 = {3, 3, 1, 0};
  EXPECT_NEAR(
      F::rescom_contrastive_loss(f1, torch::tensor(l1), keys, valid)
          .item<double>(),
      naive_rescom(f1, l1, keys, valid, {1, 1, 1, 1}, 0.2, 1, 400),
      1e-10);
  // Gradients by central differences (queue keys are constants).
  auto fg = f.clone().requires_grad_(true);
  auto o = ResComLossOptions().k_pos(2).k_neg(4);
  auto g = torch::autograd::grad(
      {F::rescom_contrastive_loss(fg, y, keys, valid, wt, o)}, {fg})[0];
  auto fd = f.clone();
  auto flat = fd.view(-1);
  for (int64_t i = 0; i < flat.numel(); i += 3) {
    const double orig = flat[i].item<double>(), h = 1e-6;
    flat[i] = orig + h;
    double up =
        F::rescom_contrastive_loss(fd, y, keys, valid, wt, o).item<double>();
    flat[i] = orig - h;
    double down =
        F::rescom_contrastive_loss(fd, y, keys, valid, wt, o).item<double>();
    flat[i] = orig;
    EXPECT_NEAR(g.reshape(-1)[i].item<double>(), (up - down) / (2 * h), 1e-6);
  }
  // Bad input.
  EXPECT_THROW(
      F::rescom_contrastive_loss(
          f, y, keys, valid.index({torch::indexing::Slice(0, 3)})),
      ltcl::Error);
  EXPECT_THROW(
      F::rescom_contrastive_loss(
          f, torch::tensor({0, 1, 1, 2, 4, 0}), keys, valid),
      ltcl::Error);
  EXPECT_THROW(
      F::rescom_contrastive_loss(
          f, y, keys, valid, {}, ResComLossOptions().temperature(0)),
      ltcl::Error);
  ltcl::test::expect_error(
      [&] {
        F::rescom_contrastive_loss(
            f, y, keys.index({"...", torch::indexing::Slice(0, 4)}), valid);
      },
      {"[4, 3, 4]"});
}

TEST_F(ResComTest, SiameseBalancedSoftmaxAveragesBothViews) {
  auto a = torch::randn({5, 3}, torch::kDouble);
  auto b = torch::randn({5, 3}, torch::kDouble);
  auto y = torch::tensor({0, 1, 2, 2, 0});
  auto n = torch::tensor({30, 5, 2});
  auto want = F::balanced_softmax_cross_entropy(
      torch::cat({a, b}), torch::cat({y, y}), n);
  EXPECT_NEAR(
      F::siamese_balanced_softmax(a, b, y, n).item<double>(),
      want.item<double>(),
      1e-12);
  EXPECT_THROW(
      F::siamese_balanced_softmax(
          a, b.index({torch::indexing::Slice(0, 4)}), y, n),
      ltcl::Error);
}

TEST_F(ResComTest, PscLossMatchesNaive) {
  const int64_t b = 6, c = 4, d = 5;
  auto z = unit(torch::randn({b, d}, torch::kDouble));
  auto p_raw = torch::randn({c, d}, torch::kDouble) * 3;  // not normalised
  std::vector<int64_t> labels = {0, 3, 3, 1, 0, 3};       // class 2 absent
  auto p = rows(unit(p_raw));
  auto zr = rows(z);
  const double tau = 0.1;
  double want = 0;
  for (int64_t i = 0; i < b; ++i) {
    double denom = 0;
    for (int64_t k = 0; k < c; ++k) {
      denom += std::exp(dot(zr[i], p[k]) / tau);
    }
    want += -std::log(std::exp(dot(zr[i], p[labels[i]]) / tau) / denom);
  }
  EXPECT_NEAR(
      F::psc_loss(z, torch::tensor(labels), p_raw).item<double>(),
      want / b,
      1e-10);
  // Gradient reaches the prototypes (finite differences on one entry).
  auto pr = p_raw.clone().requires_grad_(true);
  auto g = torch::autograd::grad(
      {F::psc_loss(z, torch::tensor(labels), pr)}, {pr})[0];
  auto pd = p_raw.clone();
  const double h = 1e-6;
  pd[1][2] += h;
  double up = F::psc_loss(z, torch::tensor(labels), pd).item<double>();
  pd[1][2] -= 2 * h;
  double down = F::psc_loss(z, torch::tensor(labels), pd).item<double>();
  EXPECT_NEAR(g[1][2].item<double>(), (up - down) / (2 * h), 1e-6);
  EXPECT_THROW(
      F::psc_loss(z, torch::tensor(labels), torch::randn({c, d + 1})),
      ltcl::Error);
  EXPECT_THROW(
      F::psc_loss(z, torch::tensor({0, 1, 2, 3, 4, 0}), p_raw), ltcl::Error);
  EXPECT_THROW(
      F::psc_loss(
          z, torch::tensor(labels), p_raw, PSCLossOptions().temperature(-1)),
      ltcl::Error);
}

TEST_F(ResComTest, HybridCurriculum) {
  EXPECT_DOUBLE_EQ(hybrid_alpha(0, 200), 1.0);
  EXPECT_DOUBLE_EQ(hybrid_alpha(100, 200), 0.75);
  EXPECT_DOUBLE_EQ(hybrid_alpha(200, 200), 0.0);
  EXPECT_THROW(hybrid_alpha(201, 200), ltcl::Error);
  EXPECT_THROW(hybrid_alpha(1, 0), ltcl::Error);
}

}  // namespace
