#include "ltcl/dist/collectives.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/nn/module.h>

#include <map>
#include <mutex>
#include <numeric>
#include <tuple>

#include "ltcl/util/error.h"

namespace ltcl::dist {

// ---------------------------------------------------------------------------
// broadcast_module
// ---------------------------------------------------------------------------
void broadcast_module(const Context& ctx, torch::nn::Module& module, int root) {
  if (!ctx.distributed()) {
    return;
  }
  std::vector<at::Tensor> tensors = module.parameters(/*recurse=*/true);
  for (auto& b : module.buffers(/*recurse=*/true)) {
    if (b.defined()) {
      tensors.push_back(b);
    }
  }
  // Same architecture everywhere? Compare (count, total elements) via
  // min == max across ranks before any data moves.
  int64_t numel = 0;
  for (const auto& t : tensors) {
    numel += t.numel();
  }
  at::Tensor sig =
      at::tensor({static_cast<int64_t>(tensors.size()), numel}, at::kLong);
  at::Tensor lo = sig.clone();
  at::Tensor hi = sig.clone();
  ctx.all_reduce(lo, ReduceOp::kMin);
  ctx.all_reduce(hi, ReduceOp::kMax);
  if (!lo.equal(hi)) {
    fail(
        "dist::broadcast_module - the ranks hold different models: {{rank "
        "{}: {} tensors, {} elements; across ranks: tensors {}..{}, "
        "elements {}..{}}}",
        ctx.rank(),
        tensors.size(),
        numel,
        lo[0].item<int64_t>(),
        hi[0].item<int64_t>(),
        lo[1].item<int64_t>(),
        hi[1].item<int64_t>());
  }
  // One flat broadcast per (dtype, device).
  at::NoGradGuard no_grad;
  std::map<std::pair<int, std::string>, std::vector<at::Tensor>> groups;
  for (const auto& t : tensors) {
    groups[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
  }
  for (auto& [key, group] : groups) {
    std::vector<at::Tensor> flat;
    flat.reserve(group.size());
    for (const auto& t : group) {
      flat.push_back(t.reshape({-1}));
    }
    at::Tensor buffer = at::cat(flat);
    ctx.broadcast(buffer, root);
    int64_t offset = 0;
    for (auto& t : group) {
      t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

// ---------------------------------------------------------------------------
// all_gather_with_grad
// ---------------------------------------------------------------------------
namespace {

// d(gathered) -> d(local slice): sum the gradient over ranks, take ours.
struct AllGatherBackward : torch::autograd::Node {
  AllGatherBackward(
      Context ctx,
      std::vector<int64_t> sizes,
      std::vector<int64_t> full_shape,
      at::TensorOptions opts)
      : ctx_(std::move(ctx)),
        sizes_(std::move(sizes)),
        full_shape_(std::move(full_shape)),
        options_(opts) {}

  torch::autograd::variable_list apply(
      torch::autograd::variable_list&& grads) override {
    // Every rank must join the all-reduce, even one whose loss did not use
    // the gathered tensor (then its contribution is zero).
    at::Tensor g = grads.empty() || !grads[0].defined()
                       ? at::zeros(full_shape_, options_)
                       : grads[0].contiguous().clone();
    ctx_.all_reduce(g, ReduceOp::kSum);
    const int rank = ctx_.rank();
    const int64_t offset =
        std::accumulate(sizes_.begin(), sizes_.begin() + rank, int64_t{0});
    return {g.narrow(0, offset, sizes_[rank])};
  }

  std::string name() const override {
    return "ltcl::dist::AllGatherBackward";
  }

 private:
  Context ctx_;
  std::vector<int64_t> sizes_;
  std::vector<int64_t> full_shape_;
  at::TensorOptions options_;
};

}  // namespace

at::Tensor all_gather_with_grad(const Context& ctx, const at::Tensor& tensor) {
  if (!ctx.distributed()) {
    return tensor;
  }
  TORCH_CHECK(
      tensor.dim() >= 1,
      "dist::all_gather_with_grad - needs a tensor with a dim 0, got a "
      "0-dim tensor");
  std::vector<int64_t> sizes = ctx.all_gather_sizes(tensor.size(0));
  at::Tensor gathered = ctx.all_gather(tensor);
  if (torch::autograd::compute_requires_grad(tensor)) {
    auto node = std::shared_ptr<AllGatherBackward>(
        new AllGatherBackward(
            ctx, sizes, gathered.sizes().vec(), gathered.options()),
        torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(tensor));
    torch::autograd::set_history(gathered, node);
  }
  return gathered;
}

// ---------------------------------------------------------------------------
// GradReducer
// ---------------------------------------------------------------------------
struct GradReducer::State {
  Context ctx;
  GradReducerOptions options;
  std::vector<at::Tensor> params;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<uintptr_t> hook_keys;

  std::vector<std::vector<size_t>> buckets;
  std::vector<size_t> bucket_of;   // param -> bucket
  std::vector<int64_t> offset_of;  // param -> element offset in its bucket
  // Each bucket's flat buffer: the gradients, then one "defined" flag per
  // parameter (1 where the rank has a gradient), reduced together, so that a
  // parameter no rank used keeps an undefined gradient (as in 1 process).
  std::vector<at::Tensor> buffers;
  std::vector<int64_t> flags_at;  // bucket -> offset of its flags

  // Per-backward state.
  std::mutex mutex;
  std::vector<char> ready;
  std::vector<size_t> pending;  // not-yet-ready params per bucket
  std::vector<Work> works;
  std::vector<char> launched;
  size_t next_bucket = 0;
  size_t launched_in_backward = 0;
  size_t last_launched_in_backward = 0;
  bool require_sync = true;
  // Order in which gradients became ready during the first synchronised
  // backward; the buckets are rebuilt once from rank 0's order.
  std::vector<size_t> ready_order;
  bool rebuilt = false;

  // Assigns params to buckets in `order` (first = launched first): one open
  // bucket per (dtype, device), closed once it reaches the cap.
  void assign_buckets(const std::vector<size_t>& order) {
    const size_t n = params.size();
    buckets.clear();
    buffers.clear();
    flags_at.clear();
    bucket_of.assign(n, 0);
    offset_of.assign(n, 0);
    const double cap_bytes = options.bucket_cap_mb() * 1024.0 * 1024.0;
    std::map<std::string, size_t> open;  // key -> bucket index
    std::vector<int64_t> bucket_numel;
    for (size_t k : order) {
      const at::Tensor& p = params[k];
      const std::string key =
          std::string(c10::toString(p.scalar_type())) + "@" + p.device().str();
      auto it = open.find(key);
      if (it == open.end()) {
        it = open.emplace(key, buckets.size()).first;
        buckets.emplace_back();
        bucket_numel.push_back(0);
      }
      const size_t b = it->second;
      buckets[b].push_back(k);
      bucket_of[k] = b;
      offset_of[k] = bucket_numel[b];
      bucket_numel[b] += p.numel();
      if (static_cast<double>(bucket_numel[b]) * p.element_size() >=
          cap_bytes) {
        open.erase(it);
      }
    }
    for (size_t b = 0; b < buckets.size(); ++b) {
      const at::Tensor& first = params[buckets[b].front()];
      flags_at.push_back(bucket_numel[b]);
      buffers.push_back(at::zeros(
          {bucket_numel[b] + static_cast<int64_t>(buckets[b].size())},
          first.options()));
    }
    ready.assign(n, 0);
    pending.assign(buckets.size(), 0);
    works.assign(buckets.size(), Work());
    launched.assign(buckets.size(), 0);
  }

  // After the first synchronised backward: buckets in the order gradients
  // actually arrived (rank 0's, broadcast, so that all ranks agree), params
  // that never arrived last -- so that an unused parameter does not hold
  // back every bucket behind it. Same idea as DDP's bucket rebuild.
  void rebuild_from_observed_order() {
    const size_t n = params.size();
    std::vector<char> seen(n, 0);
    std::vector<int64_t> order;
    for (size_t i : ready_order) {
      order.push_back(static_cast<int64_t>(i));
      seen[i] = 1;
    }
    for (size_t k = n; k-- > 0;) {
      if (!seen[k]) {
        order.push_back(static_cast<int64_t>(k));
      }
    }
    at::Tensor t = at::tensor(order, at::kLong);
    ctx.broadcast(t, 0);
    std::vector<size_t> agreed(n);
    for (size_t j = 0; j < n; ++j) {
      agreed[j] = static_cast<size_t>(t[j].item<int64_t>());
    }
    assign_buckets(agreed);
    rebuilt = true;
  }

  void reset() {
    std::fill(ready.begin(), ready.end(), 0);
    std::fill(launched.begin(), launched.end(), 0);
    for (size_t b = 0; b < buckets.size(); ++b) {
      pending[b] = buckets[b].size();
      works[b] = Work();
    }
    next_bucket = 0;
    last_launched_in_backward = launched_in_backward;
    launched_in_backward = 0;
  }

  // Copies bucket b's gradients into its buffer and starts the all-reduce.
  void launch(size_t b) {
    at::NoGradGuard no_grad;
    at::Tensor& buffer = buffers[b];
    for (size_t j = 0; j < buckets[b].size(); ++j) {
      const size_t i = buckets[b][j];
      const at::Tensor& grad = params[i].grad();
      at::Tensor slot = buffer.narrow(0, offset_of[i], params[i].numel());
      buffer[flags_at[b] + j] = grad.defined() ? 1.0 : 0.0;
      if (!grad.defined()) {
        slot.zero_();
      } else {
        TORCH_CHECK(
            !grad.is_sparse(),
            "dist::GradReducer - sparse gradients are not supported "
            "(parameter ",
            i,
            ")");
        slot.copy_(grad.reshape({-1}));
      }
    }
    works[b] = ctx.all_reduce_async(buffer, ReduceOp::kSum);
    launched[b] = 1;
  }

  // Gradient hook: parameter i's gradient is final for this backward.
  void mark_ready(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!require_sync) {
      return;
    }
    if (ready[i]) {
      fail(
          "dist::GradReducer - parameter {} received a second gradient "
          "before synchronize(); call synchronize() after every backward, "
          "or set_require_sync(false) while accumulating",
          i);
    }
    ready[i] = 1;
    if (!rebuilt) {
      ready_order.push_back(i);
    }
    --pending[bucket_of[i]];
    while (next_bucket < buckets.size() && pending[next_bucket] == 0) {
      launch(next_bucket);
      ++launched_in_backward;
      ++next_bucket;
    }
  }
};

namespace {

struct ReadyHook : torch::autograd::FunctionPostHook {
  ReadyHook(std::weak_ptr<GradReducer::State> state, size_t index)
      : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(
      const torch::autograd::variable_list& outputs,
      const torch::autograd::variable_list& /*inputs*/) override {
    if (auto s = state_.lock()) {
      s->mark_ready(index_);
    }
    return outputs;
  }

 private:
  std::weak_ptr<GradReducer::State> state_;
  size_t index_;
};

}  // namespace

GradReducer::GradReducer(
    Context ctx, std::vector<at::Tensor> parameters, GradReducerOptions options)
    : state_(std::make_shared<State>()) {
  if (!(options.bucket_cap_mb() > 0.0)) {
    fail(
        "dist::GradReducer - bucket_cap_mb must be positive: {{got {}}}",
        options.bucket_cap_mb());
  }
  State& s = *state_;
  s.ctx = std::move(ctx);
  s.options = options;
  for (auto& p : parameters) {
    if (p.defined() && p.requires_grad()) {
      s.params.push_back(p);
    }
  }
  const size_t n = s.params.size();
  // Until a backward shows the real order: reverse registration order, about
  // the order backward finishes gradients.
  std::vector<size_t> reverse(n);
  for (size_t k = 0; k < n; ++k) {
    reverse[k] = n - 1 - k;
  }
  s.assign_buckets(reverse);
  s.reset();
  if (s.ctx.distributed() && options.overlap()) {
    for (size_t i = 0; i < n; ++i) {
      auto acc = torch::autograd::impl::grad_accumulator(s.params[i]);
      TORCH_CHECK(
          acc,
          "dist::GradReducer - parameter ",
          i,
          " is not a leaf that accumulates gradients");
      s.hook_keys.push_back(acc->add_post_hook(
          std::make_unique<ReadyHook>(std::weak_ptr<State>(state_), i)));
      s.accumulators.push_back(std::move(acc));
    }
  }
}

GradReducer::~GradReducer() {
  State& s = *state_;
  for (size_t i = 0; i < s.accumulators.size(); ++i) {
    s.accumulators[i]->del_post_hook(s.hook_keys[i]);
  }
}

void GradReducer::synchronize() {
  State& s = *state_;
  if (!s.ctx.distributed()) {
    return;
  }
  std::lock_guard<std::mutex> lock(s.mutex);
  struct Reset {
    State& s;
    ~Reset() {
      s.reset();
    }
  } reset_on_exit{s};
  for (size_t b = s.next_bucket; b < s.buckets.size(); ++b) {
    s.launch(b);
  }
  s.next_bucket = s.buckets.size();
  at::NoGradGuard no_grad;
  const double scale = 1.0 / s.ctx.world_size();
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    s.works[b].wait();
    at::Tensor& buffer = s.buffers[b];
    const at::Tensor flags =
        buffer.narrow(0, s.flags_at[b], s.buckets[b].size())
            .to(at::TensorOptions().device(at::kCPU).dtype(at::kFloat),
                /*non_blocking=*/false,
                /*copy=*/true);
    const float* defined = flags.data_ptr<float>();
    buffer.mul_(scale);
    for (size_t j = 0; j < s.buckets[b].size(); ++j) {
      const size_t i = s.buckets[b][j];
      at::Tensor& p = s.params[i];
      if (defined[j] == 0.0f) {
        continue;  // no rank has a gradient for it
      }
      at::Tensor avg =
          buffer.narrow(0, s.offset_of[i], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(avg);
      } else {
        p.mutable_grad() = avg.clone();
      }
    }
  }
  if (!s.rebuilt && !s.accumulators.empty()) {
    s.rebuild_from_observed_order();
  }
}

void GradReducer::set_require_sync(bool require_sync) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->require_sync = require_sync;
}

const std::vector<std::vector<size_t>>& GradReducer::buckets() const {
  return state_->buckets;
}

size_t GradReducer::launched_during_backward() const {
  return state_->last_launched_in_backward;
}

// The features' gradient flows back to this rank's slice, summed over the
// ranks' losses (all_gather_with_grad); each rank then computes the loss of
// the whole global batch, and averaging the parameter gradients over ranks
// gives exactly the single-process gradient (docs/distributed.md).
GatheredBatch gather_for_contrastive(
    const Context& ctx,
    const at::Tensor& features,
    const at::Tensor& labels) {
  if (!ctx.distributed()) {
    return {features, labels};
  }
  return {all_gather_with_grad(ctx, features), ctx.all_gather(labels)};
}

GatheredBatch gather_for_queue(
    const Context& ctx,
    const at::Tensor& embeddings,
    const at::Tensor& labels) {
  if (!ctx.distributed()) {
    return {embeddings.detach(), labels};
  }
  // all_gather returns rank-major rows; local row i of rank r is the global
  // batch's row i * W + r (ranks take interleaved draws), so a [W, B] ->
  // [B, W] transpose restores the order one process would see: the FIFO
  // queue then keeps the same keys in the same slots for any world size.
  const int64_t w = ctx.world_size();
  auto e = ctx.all_gather(embeddings.detach().contiguous());
  auto l = ctx.all_gather(labels.contiguous());
  const int64_t b = embeddings.size(0);
  return {e.view({w, b, -1}).transpose(0, 1).reshape({w * b, -1}),
          l.view({w, b}).transpose(0, 1).reshape({w * b})};
}

}  // namespace ltcl::dist
