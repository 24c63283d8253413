#pragma once
// Deliberately naive reference losses for the tests: explicit loops over
// anchors and keys in double precision, written straight from METHODS.md.
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "ltcl/losses/contrastive.h"

namespace ltcl::test {

using Vec = std::vector<double>;

inline std::vector<Vec> rows(const torch::Tensor& t2d) {
  auto t = t2d.to(torch::kDouble).contiguous();
  std::vector<Vec> out(t.size(0), Vec(t.size(1)));
  for (int64_t i = 0; i < t.size(0); ++i) {
    for (int64_t j = 0; j < t.size(1); ++j) {
      out[i][j] = t[i][j].item<double>();
    }
  }
  return out;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += a[i] * b[i];
  }
  return s;
}

// METHODS.md section 3, term by term.
inline double naive_contrastive(
    const torch::Tensor& features,  // [B, V, D]
    const std::vector<int64_t>& labels,
    const torch::Tensor& prototypes,  // [C, D] or undefined
    const std::vector<double>& counts,
    const ltcl::losses::ContrastiveLossOptions& o) {
  const int64_t b = features.size(0), v = features.size(1);
  std::vector<Vec> keys;
  std::vector<int64_t> key_label;
  for (int64_t j = 0; j < b; ++j) {
    for (int64_t w = 0; w < v; ++w) {
      keys.push_back(rows(features[j])[w]);
      key_label.push_back(labels[j]);
    }
  }
  const size_t n = keys.size();
  if (prototypes.defined()) {
    auto p = rows(prototypes);
    for (size_t c = 0; c < p.size(); ++c) {
      keys.push_back(p[c]);
      key_label.push_back(static_cast<int64_t>(c));
    }
  }
  double total_n = 0, min_q = 1e300;
  for (double c : counts) {
    total_n += c;
    min_q = std::min(min_q, c);
  }
  const double s = o.feature_scale(), tau = o.temperature();
  double loss = 0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<size_t> pos;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (k != i && key_label[k] == key_label[i]) {
        pos.push_back(k);
      }
    }
    if (pos.empty()) {
      continue;  // contributes 0
    }
    auto logit = [&](size_t k) {
      double l = s * s * dot(keys[i], keys[k]) / tau;
      if (o.balance() != 0) {
        l += o.balance() * std::log(counts[key_label[k]] / total_n);
      }
      if (k != i && key_label[k] == key_label[i] && o.margin_max() > 0) {
        double m = o.margin_max() * std::pow(counts[key_label[i]], -0.25) /
                   std::pow(min_q, -0.25) / tau;
        l -= m;
      }
      return l;
    };
    double denom = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (k == i) {
        continue;
      }
      double w = 1;
      if (o.class_averaging()) {
        double cnt = 0;
        for (auto lab : key_label) {
          cnt += lab == key_label[k];
        }
        w = 1.0 / (cnt - (key_label[k] == key_label[i] ? 1 : 0));
      }
      denom += w * std::exp(logit(k));
    }
    double li = 0;
    for (auto p : pos) {
      li += std::log(std::exp(logit(p)) / denom);
    }
    loss += -li / pos.size();
  }
  return loss / n;
}

// Khosla et al.'s SupCon, in its own textbook form.
inline double naive_supcon(
    const torch::Tensor& features,
    const std::vector<int64_t>& labels,
    double tau) {
  const int64_t b = features.size(0), v = features.size(1);
  std::vector<Vec> z;
  std::vector<int64_t> y;
  for (int64_t w = 0; w < v; ++w) {
    for (int64_t j = 0; j < b; ++j) {
      z.push_back(rows(features[j])[w]);
      y.push_back(labels[j]);
    }
  }
  double loss = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    double a = 0;
    for (size_t k = 0; k < z.size(); ++k) {
      if (k != i) {
        a += std::exp(dot(z[i], z[k]) / tau);
      }
    }
    double sum = 0;
    int np = 0;
    for (size_t p = 0; p < z.size(); ++p) {
      if (p != i && y[p] == y[i]) {
        sum += std::log(std::exp(dot(z[i], z[p]) / tau) / a);
        ++np;
      }
    }
    if (np) {
      loss += -sum / np;
    }
  }
  return loss / z.size();
}

// BCL's formula as written in Zhu et al. (eq. 6): the denominator is a sum
// over classes j of the MEAN of exp(z_i . z_k / tau) over the keys of class
// j (batch views + prototype c_j, anchor itself excluded).
inline double naive_bcl(
    const torch::Tensor& features,
    const std::vector<int64_t>& labels,
    const torch::Tensor& prototypes,
    double tau) {
  const int64_t b = features.size(0), v = features.size(1);
  const int64_t c = prototypes.size(0);
  std::vector<Vec> z;
  std::vector<int64_t> y;
  for (int64_t j = 0; j < b; ++j) {
    for (int64_t w = 0; w < v; ++w) {
      z.push_back(rows(features[j])[w]);
      y.push_back(labels[j]);
    }
  }
  auto protos = rows(prototypes);
  double loss = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    double denom = 0;
    for (int64_t cls = 0; cls < c; ++cls) {
      double sum = std::exp(dot(z[i], protos[cls]) / tau);
      int cnt = 1;
      for (size_t k = 0; k < z.size(); ++k) {
        if (k != i && y[k] == cls) {
          sum += std::exp(dot(z[i], z[k]) / tau);
          ++cnt;
        }
      }
      denom += sum / cnt;
    }
    double num = std::log(std::exp(dot(z[i], protos[y[i]]) / tau) / denom);
    int np = 1;
    for (size_t p = 0; p < z.size(); ++p) {
      if (p != i && y[p] == y[i]) {
        num += std::log(std::exp(dot(z[i], z[p]) / tau) / denom);
        ++np;
      }
    }
    loss += -num / np;
  }
  return loss / z.size();
}

}  // namespace ltcl::test
