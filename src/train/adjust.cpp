#include "ltcl/train/adjust.h"

#include <torch/torch.h>

#include <cmath>

#include "ltcl/eval/evaluate.h"
#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/config.h"
#include "ltcl/train/data.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/util/error.h"

namespace ltcl::train {

std::vector<double> default_tau_grid() {
  std::vector<double> g;
  for (int k = 0; k <= 20; ++k) {
    g.push_back(k / 10.0);
  }
  return g;
}

TauSweep sweep_tau(
    models::NetworkImpl& model,
    const std::string& adjust,
    bool bias,
    const std::vector<int64_t>& train_counts,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<double>& taus) {
  if (adjust != "posthoc_la" && adjust != "tau_norm") {
    fail("sweep_tau - adjust must be posthoc_la or tau_norm: {{got '{}'}}", adjust);
  }
  if (taus.empty()) {
    fail("sweep_tau - no tau to try");
  }
  for (double t : taus) {
    if (!std::isfinite(t) || t < 0) {
      fail("sweep_tau - tau must be finite and >= 0: {{got {}}}", t);
    }
  }
  if (adjust == "tau_norm" && !model.linear) {
    fail(
        "sweep_tau - tau_norm needs a linear classifier: {{got '{}'}}",
        model.options.classifier());
  }
  if (data.size() == 0) {
    fail("sweep_tau - the set to choose tau on is empty");
  }
  TauSweep s;
  s.adjust = adjust;
  s.bias = bias;
  s.images = static_cast<int64_t>(data.size());
  const auto out = eval::run_model(model, data, recipe, batch_size, true);
  const auto n = static_cast<int64_t>(data.size());
  auto features =
      torch::from_blob(
          const_cast<float*>(out.features.data()), {n, out.feature_dim},
          torch::kFloat)
          .clone()
          .to(model.classifier_weight().device());
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    labels[static_cast<size_t>(i)] = data.label(static_cast<size_t>(i));
  }
  const int64_t C = model.options.num_classes();
  const auto saved = model.options;
  struct Restore {
    models::NetworkImpl& m;
    const models::NetworkOptions& o;
    const std::vector<int64_t>& counts;
    ~Restore() {
      m.options = o;
      m.set_class_counts(counts);
    }
  } restore{model, saved, train_counts};
  torch::NoGradGuard no_grad;
  int64_t best = -1;
  for (double tau : taus) {
    model.options.adjust(adjust).adjust_tau(tau).tau_norm_bias(bias);
    model.set_class_counts(train_counts);
    const auto pred =
        model.adjusted_logits(features).argmax(1).to(torch::kCPU).contiguous();
    const auto* p = pred.data_ptr<int64_t>();
    std::vector<int64_t> hit(static_cast<size_t>(C)), total(static_cast<size_t>(C));
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      const auto y = labels[static_cast<size_t>(i)];
      ++total[static_cast<size_t>(y)];
      if (p[i] == y) {
        ++hit[static_cast<size_t>(y)];
        ++correct;
      }
    }
    double sum = 0;
    int present = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (total[static_cast<size_t>(c)] > 0) {
        sum += static_cast<double>(hit[static_cast<size_t>(c)]) /
            static_cast<double>(total[static_cast<size_t>(c)]);
        ++present;
      }
    }
    s.taus.push_back(tau);
    s.mean_class.push_back(present > 0 ? 100.0 * sum / present : 0.0);
    s.top1.push_back(100.0 * static_cast<double>(correct) / static_cast<double>(n));
    if (best < 0 || s.mean_class.back() > s.mean_class[static_cast<size_t>(best)]) {
      best = static_cast<int64_t>(s.taus.size()) - 1;
    }
  }
  s.best_tau = s.taus[static_cast<size_t>(best)];
  return s;
}

void write_adjusted_checkpoint(
    const std::string& source,
    const std::string& out,
    const std::string& adjust,
    double tau,
    bool bias) {
  AdjustOverride o;
  o.adjust = adjust;
  o.tau = tau;
  o.bias = bias ? 1 : 0;
  // Checks the transform fits the model (tau_norm needs a linear classifier).
  auto m = load_saved_model(source, "cpu", o);
  auto state = load_checkpoint(source, nullptr, nullptr);
  state.config_yaml = to_yaml(m.config);
  save_checkpoint(out, *m.model, nullptr, state);
}

int64_t write_ncm_checkpoint(
    const std::string& source,
    const std::string& out,
    const std::string& device) {
  AdjustOverride raw;
  raw.adjust = "none";
  auto m = load_saved_model(source, device, raw);
  const auto splits = open_data(m.config.data, m.config.data.test_split);
  const data::Dataset& train = *splits.train;
  const augment::Recipe recipe = m.eval_recipe();
  const int64_t batch_size = m.config.train.eval_batch_size;
  const auto n = static_cast<int64_t>(train.size());
  const int64_t C = m.model->options.num_classes();
  if (n == 0) {
    fail("adjust ncm - '{}': no training image to take centroids from", source);
  }
  const auto outs = eval::run_model(*m.model, train, recipe, batch_size, true);
  auto f = torch::from_blob(
               const_cast<float*>(outs.features.data()),
               {n, outs.feature_dim},
               torch::kFloat)
               .to(torch::kDouble);
  const auto mean = f.mean(0);
  const auto x = torch::nn::functional::normalize(
      f - mean, torch::nn::functional::NormalizeFuncOptions().dim(1));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::vector<double> count(static_cast<size_t>(C), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const auto y = train.label(static_cast<size_t>(i));
    if (y < 0 || y >= C) {
      fail("adjust ncm - '{}': label {} outside the model's {} classes", source, y, C);
    }
    labels[static_cast<size_t>(i)] = y;
    count[static_cast<size_t>(y)] += 1;
  }
  for (int64_t k = 0; k < C; ++k) {
    if (count[static_cast<size_t>(k)] == 0) {
      fail(
          "adjust ncm - '{}': class {} has no training image, so no "
          "centroid",
          source,
          k);
    }
  }
  auto centroids = torch::zeros({C, outs.feature_dim}, torch::kDouble)
                       .index_add_(0, torch::tensor(labels, torch::kLong), x) /
      torch::tensor(count, torch::kDouble).unsqueeze(1);
  auto state = load_checkpoint(source, nullptr, nullptr);
  m.config.model.adjust = "ncm";
  state.config_yaml = to_yaml(m.config);
  state.tensors["ncm_mean"] = mean.to(torch::kFloat).contiguous();
  state.tensors["ncm_centroids"] = centroids.to(torch::kFloat).contiguous();
  m.model->to(torch::kCPU);
  save_checkpoint(out, *m.model, nullptr, state);
  return n;
}

}  // namespace ltcl::train
