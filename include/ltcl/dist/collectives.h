#pragma once
// Data-parallel building blocks on top of dist::Context: the start-up
// broadcast of a model, gradient averaging in buckets (overlapped with
// backward), and an all-gather that gradients flow through.
//
// The global-batch contract (see docs/distributed.md): with W ranks each
// holding B/W samples of a global batch of B, each rank's loss is the mean
// over its own samples (of a per-sample loss that may look at all-gathered
// features), and gradients are AVERAGED across ranks. Then every parameter
// gradient equals the single-process gradient of the mean loss over the
// whole batch, provided all_gather_with_grad passes back the SUM over ranks
// of the gradients reaching each rank's slice (derivation in the docs).
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ltcl/dist/context.h"

namespace torch::nn {
class Module;
}

namespace ltcl::dist {

// Copies rank `root`'s parameters and buffers into every rank's `module`
// (coalesced: one broadcast per dtype). All ranks must hold the same
// architecture; a differing tensor count or shape throws ltcl::Error.
void broadcast_module(
    const Context& ctx, torch::nn::Module& module, int root = 0);

// The concatenation along dim 0 of every rank's `tensor` (rank order), with
// autograd: the backward all-reduces (sums) the incoming gradient across
// ranks and returns this rank's slice, i.e. d(sum_s L_s)/d(tensor_r) where
// L_s is rank s's loss. Ranks may contribute different numbers of rows.
// World 1: the identity (the same tensor, gradient untouched).
at::Tensor all_gather_with_grad(const Context& ctx, const at::Tensor& tensor);

// A contrastive step's inputs over the whole global batch.
struct GatheredBatch {
  at::Tensor features;  // [B_global, ...] (order: see the two functions)
  at::Tensor labels;    // [B_global]
};

// For losses over the global batch: every rank's features (with gradient,
// all_gather_with_grad) and labels, in rank order. World 1: the inputs.
GatheredBatch gather_for_contrastive(
    const Context& ctx,
    const at::Tensor& features,
    const at::Tensor& labels);

// For memory queues (ResCom): detached embeddings [B_global, D] and labels
// of every rank in the global sampler order -- the order of the 1-process
// batch, since ranks take interleaved draws (every rank passes the same
// local batch size) -- so that all ranks' queues agree and equal the
// 1-process queue. World 1: the detached inputs.
GatheredBatch gather_for_queue(
    const Context& ctx,
    const at::Tensor& embeddings,
    const at::Tensor& labels);

struct GradReducerOptions {
  // Target size of one flat all-reduce buffer (PyTorch DDP's default).
  TORCH_ARG(double, bucket_cap_mb) = 25.0;
  // Launch each bucket's all-reduce from a gradient hook as soon as the
  // bucket (and every bucket before it) is complete, while backward still
  // runs. false: everything is reduced in synchronize().
  TORCH_ARG(bool, overlap) = true;
};

// Averages gradients across ranks, in buckets of ~bucket_cap_mb.
//
//   GradReducer reducer(ctx, model->parameters());
//   loss.backward();          // hooks launch buckets during backward
//   reducer.synchronize();    // waits, averages, writes p.grad()
//   optimizer.step();
//
// Parameters are bucketed in reverse registration order (about the order
// backward produces their gradients) and buckets are launched strictly in
// order, so all ranks issue the same collectives in the same order. This
// needs the autograd graph to have the same structure on every rank.
// A parameter whose gradient is undefined on a rank after backward (unused
// there) contributes zeros to the average; one that no rank used keeps its
// undefined gradient (so optimizers skip it, as in 1 process). World 1:
// synchronize() does nothing.
// For gradient accumulation, set_require_sync(false) for the micro-steps
// whose gradients should only accumulate locally.
class GradReducer {
 public:
  GradReducer(
      Context ctx,
      std::vector<at::Tensor> parameters,
      GradReducerOptions options = {});
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Finishes the reduction of this backward: launches the buckets not yet
  // launched, waits for all, divides by the world size and writes the
  // averaged values into the parameters' gradients. Throws ltcl::Error when
  // a collective fails or times out.
  void synchronize();

  void set_require_sync(bool require_sync);

  // Bucket b's parameters: indices into the constructor's parameters that
  // require grad (frozen ones are skipped), in launch order.
  const std::vector<std::vector<size_t>>& buckets() const;
  // How many buckets the last backward launched from hooks, before
  // synchronize() was called (a measure of overlap).
  size_t launched_during_backward() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace ltcl::dist
