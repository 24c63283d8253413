// Gradient accumulation's shared pieces (train/method.h): the default
// Method::accumulate() of methods whose loss is a mean over the images, and
// the buffer snapshot of methods that run a no-grad forward pass first.
#include <torch/torch.h>

#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/util/error.h"
#include "rooms.h"

namespace ltcl::train {

// Each micro-batch's mean loss / K: equal micro-batches (the trainer splits
// a batch into K equal ones), so the sum is the whole batch's mean.
LossParts Method::accumulate(
    const std::vector<pipeline::StepBatch>& micro,
    const StepEnv& env) {
  const auto k = static_cast<double>(micro.size());
  LossParts sum;
  for (size_t i = 0; i < micro.size(); ++i) {
    LossParts parts = step(micro[i], env);
    auto total = parts.find("total");
    if (total == parts.end()) {
      fail("Method::accumulate - the step returned no 'total' loss part");
    }
    env.last_backward(i + 1 == micro.size());
    env.backward(total->second / k);
    for (const auto& [name, t] : parts) {
      auto v = t.detach() / k;
      auto it = sum.find(name);
      if (it == sum.end()) {
        sum.emplace(name, v);
      } else {
        it->second = it->second + v;
      }
    }
  }
  return sum;
}

namespace rooms {

BufferSnapshot::BufferSnapshot(models::NetworkImpl& model) {
  torch::NoGradGuard no_grad;
  for (auto& b : model.buffers()) {
    buffers_.push_back(b);
    saved_.push_back(b.clone());
  }
}

BufferSnapshot::~BufferSnapshot() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    buffers_[i].copy_(saved_[i]);
  }
}

}  // namespace rooms
}  // namespace ltcl::train
