#include "ltcl/eval/evaluate.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "ltcl/eval/meters.h"
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

EvalReport evaluate_model(
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size,
    const std::vector<int64_t>& train_counts) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  ConfusionMeter confusion(data.num_classes());
  for_each_batch(
      model, data, recipe, batch_size, [&](const torch::Tensor& x, const torch::Tensor& y) {
        confusion.add(model.forward(x).logits, y);
      });
  model.train(was_training);
  return make_report(confusion, train_counts, data.class_names());
}

void write_embeddings_csv(
    const std::string& path,
    models::NetworkImpl& model,
    const data::Dataset& data,
    const augment::Recipe& recipe,
    int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
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
  model.train(was_training);
  util::atomic_write_text(path, out);
}

}  // namespace ltcl::eval
