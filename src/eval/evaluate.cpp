#include "ltcl/eval/evaluate.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>

#include "ltcl/eval/meters.h"
#include "ltcl/models/mode_guard.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/multi_view.h"
#include "ltcl/util/atomic_file.h"

namespace ltcl::eval {
namespace {

// A non-owning pointer to a dataset the caller keeps alive.
data::DatasetPtr borrow(const data::Dataset& d) {
  return data::DatasetPtr(&d, [](const data::Dataset*) {});
}

// Stacks eval-recipe images of samples [start, end) into [N, C, H, W].
torch::Tensor eval_batch(
    const pipeline::MultiViewDataset& views,
    int64_t start,
    int64_t end,
    torch::Tensor* labels) {
  const auto& r = views.view(0);
  const int64_t n = end - start;
  auto x = torch::empty({n, r.channels, r.height, r.width});
  auto y = torch::empty({n}, torch::kLong);
  const int64_t per = static_cast<int64_t>(r.channels) * r.height * r.width;
  float* xp = x.data_ptr<float>();
  int64_t* yp = y.data_ptr<int64_t>();
  at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* out = xp + i * per;
      pipeline::DrawKey key;
      key.position = start + i;
      key.index = start + i;
      yp[i] = views.fill(key, &out);
    }
  });
  *labels = y;
  return x;
}

// Calls fn(images on the model's device, labels) for every batch.
template <typename Fn>
void for_each_batch(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    Fn fn) {
  pipeline::MultiViewDataset views(borrow(data), {recipe});
  const auto device = model.parameters().front().device();
  const int64_t n = static_cast<int64_t>(data.size());
  for (int64_t start = 0; start < n; start += batch_size) {
    torch::Tensor y;
    auto x = eval_batch(views, start, std::min(n, start + batch_size), &y);
    fn(x.to(device), y);
  }
}

}  // namespace

namespace {

// Appends a [N, D] tensor's rows (CPU float32) to `out`; D to `dim`.
void append(std::vector<float>* out, int64_t* dim, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  *dim = c.size(1);
  out->insert(out->end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<data::ShotGroup> groups_of(const std::vector<int64_t>& counts) {
  return data::shot_groups(counts).group_of_class;
}

// One pass: confusion, calibration and (keep) the embeddings.
EmbeddedEval run_eval(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts,
    bool keep) {
  torch::NoGradGuard no_grad;
  models::EvalModeGuard eval_mode(model);
  ConfusionMeter confusion(data.num_classes());
  CalibrationMeter calib(data.num_classes());
  EmbeddedEval out;
  for_each_batch(
      model, data, recipe, batch_size, [&](const torch::Tensor& x, const torch::Tensor& y) {
        auto o = model.forward(x);
        confusion.add(o.logits, y);
        auto logits = o.logits.to(torch::kCPU, torch::kFloat).contiguous();
        auto yc = y.contiguous();
        calib.add_logits(
            logits.data_ptr<float>(), yc.data_ptr<int64_t>(), yc.size(0));
        if (!keep) {
          return;
        }
        append(&out.features, &out.feature_dim, o.features);
        if (o.embeddings.defined()) {
          append(&out.projections, &out.projection_dim, o.embeddings);
        }
        out.labels.insert(
            out.labels.end(), yc.data_ptr<int64_t>(),
            yc.data_ptr<int64_t>() + yc.numel());
      });
  out.report = make_report(confusion, train_counts, data.class_names());
  out.report.calibration = calibration(calib, groups_of(train_counts));
  return out;
}

}  // namespace

ModelOutputs run_model(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    bool embeddings) {
  torch::NoGradGuard no_grad;
  models::EvalModeGuard eval_mode(model);
  ModelOutputs out;
  out.num_classes = model.options.num_classes();
  for_each_batch(
      model, data, recipe, batch_size,
      [&](const torch::Tensor& x, const torch::Tensor&) {
        auto o = model.forward(x);
        append(&out.logits, &out.num_classes, o.logits);
        if (embeddings) {
          append(&out.features, &out.feature_dim, o.features);
          if (o.embeddings.defined()) {
            append(&out.projections, &out.projection_dim, o.embeddings);
          }
        }
      });
  return out;
}

EvalReport evaluate_model(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts) {
  return run_eval(model, data, recipe, batch_size, train_counts, false).report;
}

EmbeddedEval evaluate_with_embeddings(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts) {
  return run_eval(model, data, recipe, batch_size, train_counts, true);
}

std::string embedding_spaces_json(
    const EmbeddedEval& e,
    const EmbeddedEval* ref,
    const std::vector<int64_t>& train_counts,
    bool per_class) {
  nlohmann::ordered_json j;
  const auto C = static_cast<int64_t>(train_counts.size());
  auto space = [&](const std::vector<float>& v, int64_t dim,
                   const std::vector<float>* rv) {
    std::optional<EmbeddingView> reference;
    if (rv != nullptr && !rv->empty()) {
      reference.emplace(*rv, ref->labels, dim);
    }
    return nlohmann::ordered_json::parse(embedding_metrics_json(
        embedding_metrics(
            EmbeddingView(v, e.labels, dim), C, train_counts, {}, reference),
        per_class));
  };
  if (e.projection_dim > 0) {
    j["projection"] = space(
        e.projections, e.projection_dim, ref ? &ref->projections : nullptr);
  }
  j["feature"] =
      space(e.features, e.feature_dim, ref ? &ref->features : nullptr);
  return j.dump();
}

void write_embeddings_csv(
    const std::string& path,
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size) {
  torch::NoGradGuard no_grad;
  models::EvalModeGuard eval_mode(model);
  std::string out;
  bool header = false;
  for_each_batch(
      model, data, recipe, batch_size, [&](const torch::Tensor& x, const torch::Tensor& y) {
        auto o = model.forward(x);
        auto f = o.features.to(torch::kCPU).contiguous();
        auto z = o.embeddings.defined()
            ? o.embeddings.to(torch::kCPU).contiguous()
            : torch::empty({f.size(0), 0});
        if (!header) {
          out += "label";
          for (int64_t j = 0; j < f.size(1); ++j) {
            out += fmt::format(",f{}", j);
          }
          for (int64_t j = 0; j < z.size(1); ++j) {
            out += fmt::format(",z{}", j);
          }
          out += '\n';
          header = true;
        }
        auto fa = f.accessor<float, 2>();
        auto za = z.accessor<float, 2>();
        auto ya = y.accessor<int64_t, 1>();
        for (int64_t i = 0; i < f.size(0); ++i) {
          out += std::to_string(ya[i]);
          for (int64_t j = 0; j < f.size(1); ++j) {
            out += fmt::format(",{:.6g}", fa[i][j]);
          }
          for (int64_t j = 0; j < z.size(1); ++j) {
            out += fmt::format(",{:.6g}", za[i][j]);
          }
          out += '\n';
        }
      });
  util::atomic_write_text(path, out);
}

}  // namespace ltcl::eval
