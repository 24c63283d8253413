#pragma once
// A data-parallel job's process group: who am I (rank), how many of us
// (world size), and the collectives between us, on PyTorch's own c10d
// (ProcessGroupGloo for CPU tensors, ProcessGroupNCCL for CUDA tensors when
// the LibTorch has it). The c10d headers stay out of this header (pimpl).
//
// A default-constructed Context is the single process of a world of size 1:
// every collective is then the identity, so code written against a Context
// runs unchanged without distribution (and in builds configured with
// -DLTCL_WITH_DISTRIBUTED=OFF, where Context::from_env accepts only
// WORLD_SIZE unset or 1).
//
// Every collective must be called by every rank, in the same order, with
// tensors of the same dtype (and, except all_gather, the same shape). A
// collective that cannot complete within the timeout -- a peer died, hung or
// is far behind -- throws ltcl::Error naming this rank, the operation and the
// timeout, instead of hanging.
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ltcl::dist {

// Where this process sits in the job, as torchrun, SLURM or spawn_local
// describe it through the environment.
struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// Looks a variable up; returns nullptr when unset (std::getenv's contract).
using EnvLookup = std::function<const char*(const char*)>;

// Parses the launch environment:
//   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT;
// under SLURM (srun) RANK/WORLD_SIZE/LOCAL_RANK fall back to SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID. WORLD_SIZE unset (and no SLURM_NTASKS) means a
// single process (world 1); then nothing else is required. With world > 1,
// RANK and MASTER_ADDR are required and MASTER_PORT defaults to 29500.
// An unparsable or out-of-range value throws ltcl::Error naming the variable
// and the value got.
LaunchEnv parse_launch_env(const EnvLookup& lookup);
LaunchEnv launch_env();  // from the process environment

// True when the environment describes a job of more than one process.
bool launched_distributed();

enum class ReduceOp { kSum, kAverage, kMin, kMax };

struct ContextOptions {
  // Bound on every collective and on the rendezvous (TCPStore connection,
  // process group set-up). A dead or hung rank makes the others fail after at
  // most this long. torch's default is 30 min; ours is 5 min.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  // "auto": Gloo for CPU tensors plus NCCL for CUDA tensors when compiled
  // with NCCL and a GPU is present; "gloo": Gloo only; "nccl": require NCCL.
  std::string backend = "auto";
};

class Work;

class Context {
 public:
  // The single process of a world of size 1.
  Context();

  // A context for the job the environment describes (see parse_launch_env);
  // world 1 when not launched distributed. Rank 0 hosts the c10d TCPStore at
  // MASTER_ADDR:MASTER_PORT; all ranks connect to it and build the process
  // group(s). Throws ltcl::Error naming the variable for bad environment
  // values, and naming the address and timeout when the rendezvous fails.
  static Context from_env(const ContextOptions& options = {});
  static Context create(const LaunchEnv& env, const ContextOptions& options);

  int rank() const;
  int world_size() const;
  int local_rank() const;
  bool is_main() const {
    return rank() == 0;
  }
  bool distributed() const {
    return world_size() > 1;
  }
  std::chrono::milliseconds timeout() const;
  // "single", "gloo" or "gloo+nccl".
  std::string backend_name() const;
  // True when CUDA tensors can be reduced (an NCCL group exists).
  bool has_cuda_backend() const;

  // Blocks until every rank has reached it (or the timeout expires).
  void barrier() const;
  // In place: every rank's `tensor` receives root's values.
  void broadcast(at::Tensor& tensor, int root = 0) const;
  // In place element-wise reduction across ranks (kAverage = sum / world).
  void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) const;
  // Starts an in-place all-reduce and returns at once; Work::wait() finishes
  // it (and applies the division of kAverage).
  Work all_reduce_async(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) const;
  // Concatenation along dim 0 of every rank's tensor, in rank order. Ranks
  // may pass different sizes along dim 0 (other dims must agree); no
  // gradient flows (see all_gather_with_grad in collectives.h).
  at::Tensor all_gather(const at::Tensor& tensor) const;
  // The dim-0 sizes of every rank's tensor (one small all-gather).
  std::vector<int64_t> all_gather_sizes(int64_t local_size) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// A collective in flight (from Context::all_reduce_async).
class Work {
 public:
  Work() = default;
  // Waits for completion; throws ltcl::Error (rank, operation, timeout) when
  // the collective failed or timed out. A default Work is already complete.
  void wait();
  bool completed() const;

  struct Impl;
  explicit Work(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

// [begin, end) of rank's share when `n` items are split over `world` ranks
// in contiguous, non-overlapping pieces (sizes differ by at most 1; the first
// n % world ranks get one more). Throws ltcl::Error for n < 0 or a bad rank.
std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int world);

}  // namespace ltcl::dist
