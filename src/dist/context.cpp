#include "ltcl/dist/context.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <charconv>
#include <cstdlib>
#include <exception>

#include "ltcl/util/error.h"

// The c10d headers: only here (they are heavy and need USE_C10D_* defined).
#ifdef LTCL_WITH_DISTRIBUTED
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// NCCL only where the LibTorch was built with CUDA and nccl.h is around
// (a CUDA LibTorch from pytorch.org ships both); Debian's CPU build has not.
#if defined(LTCL_HAS_CUDA) && __has_include(<nccl.h>)
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define LTCL_DIST_HAS_NCCL 1
#endif
#include <torch/version.h>
namespace ltcl::dist {
// What Gloo's and NCCL's groups derive from: c10d::ProcessGroup up to
// LibTorch 1.13, c10d::Backend from 2.0 (ProcessGroup became the
// dispatching front over backends). Their collectives are the same calls.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif
}  // namespace ltcl::dist
#endif

namespace ltcl::dist {

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------
namespace {

constexpr int kDefaultMasterPort = 29500;

int parse_int(const char* name, const char* text, int lo, int hi) {
  const std::string s(text);
  int value = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc() || ptr != end) {
    fail(
        "dist::parse_launch_env - environment variable {} is not an "
        "integer: {{got '{}'}}",
        name,
        s);
  }
  if (value < lo || value > hi) {
    fail(
        "dist::parse_launch_env - environment variable {} out of range "
        "[{}, {}]: {{got {}}}",
        name,
        lo,
        hi,
        value);
  }
  return value;
}

// The first set variable among `names` (name, value) or (nullptr, nullptr).
std::pair<const char*, const char*> first_set(
    const EnvLookup& lookup, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (const char* v = lookup(n)) {
      return {n, v};
    }
  }
  return {nullptr, nullptr};
}

}  // namespace

LaunchEnv parse_launch_env(const EnvLookup& lookup) {
  LaunchEnv env;
  const char* master = lookup("MASTER_ADDR");
  // SLURM's variables count only when MASTER_ADDR says a distributed job is
  // meant: a batch script's own environment also carries SLURM_NTASKS.
  const bool slurm = master != nullptr;
  auto world = slurm ? first_set(lookup, {"WORLD_SIZE", "SLURM_NTASKS"})
                     : first_set(lookup, {"WORLD_SIZE"});
  if (!world.first) {
    if (const char* r = lookup("RANK")) {
      fail(
          "dist::parse_launch_env - RANK is set but WORLD_SIZE is not: "
          "{{RANK='{}'}}",
          r);
    }
    return env;  // a single process
  }
  constexpr int kMaxWorld = 1 << 20;
  env.world_size = parse_int(world.first, world.second, 1, kMaxWorld);
  if (env.world_size == 1) {
    return env;
  }
  auto rank = slurm ? first_set(lookup, {"RANK", "SLURM_PROCID"})
                    : first_set(lookup, {"RANK"});
  if (!rank.first) {
    fail(
        "dist::parse_launch_env - RANK is not set (WORLD_SIZE={}): set "
        "RANK to this process's rank in [0, WORLD_SIZE)",
        env.world_size);
  }
  env.rank = parse_int(rank.first, rank.second, 0, env.world_size - 1);
  auto local = slurm ? first_set(lookup, {"LOCAL_RANK", "SLURM_LOCALID"})
                     : first_set(lookup, {"LOCAL_RANK"});
  env.local_rank =
      local.first ? parse_int(local.first, local.second, 0, env.world_size - 1)
                  : 0;
  if (const char* lws = lookup("LOCAL_WORLD_SIZE")) {
    env.local_world_size =
        parse_int("LOCAL_WORLD_SIZE", lws, 1, env.world_size);
  } else {
    env.local_world_size = 1;
  }
  if (!master) {
    fail(
        "dist::parse_launch_env - MASTER_ADDR is not set (WORLD_SIZE={}): "
        "set it to the host of rank 0",
        env.world_size);
  }
  if (std::string(master).empty()) {
    fail("dist::parse_launch_env - MASTER_ADDR is empty");
  }
  env.master_addr = master;
  const char* port = lookup("MASTER_PORT");
  env.master_port =
      port ? parse_int("MASTER_PORT", port, 1, 65535) : kDefaultMasterPort;
  return env;
}

LaunchEnv launch_env() {
  return parse_launch_env([](const char* n) { return std::getenv(n); });
}

bool launched_distributed() {
  return launch_env().world_size > 1;
}

std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world) {
    fail(
        "dist::shard_range - rank must lie in [0, world): {{got rank {}, "
        "world {}}}",
        rank,
        world);
  }
  if (n < 0) {
    fail("dist::shard_range - negative item count: {{got {}}}", n);
  }
  const int64_t base = n / world;
  const int64_t extra = n % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

// ---------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------
namespace {

std::string message_of(const std::exception& e) {
  if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return c10->what_without_backtrace();
  }
  return e.what();
}

double seconds(std::chrono::milliseconds ms) {
  return static_cast<double>(ms.count()) / 1000.0;
}

}  // namespace

struct Context::Impl {
  LaunchEnv env;
  ContextOptions options;
#ifdef LTCL_WITH_DISTRIBUTED
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> cpu_group;   // Gloo
  c10::intrusive_ptr<GroupBase> cuda_group;  // NCCL, may be null

  GroupBase& group_for(const at::Tensor& t, const char* op) const {
    if (t.is_cuda()) {
      if (!cuda_group) {
        fail(
            "dist::Context::{} - CUDA tensor but no NCCL process group (this "
            "LibTorch has no NCCL, or backend 'gloo' was chosen): rank {}",
            op,
            env.rank);
      }
      return *cuda_group;
    }
    return *cpu_group;
  }
#endif

  [[noreturn]] void rethrow(const char* op, const std::exception& e) const {
    fail(
        "dist::Context::{} - collective failed on rank {} of {} (timeout {} "
        "s; a peer rank died, hung, or called a different collective): {}",
        op,
        env.rank,
        env.world_size,
        seconds(options.timeout),
        message_of(e));
  }
};

struct Work::Impl {
  std::shared_ptr<const Context::Impl> context;
  const char* op = "";
#ifdef LTCL_WITH_DISTRIBUTED
  c10::intrusive_ptr<c10d::Work> work;
#endif
  at::Tensor target;  // the caller's tensor
  at::Tensor buffer;  // the contiguous tensor reduced (may be `target`)
  double scale = 1.0;
  bool done = false;
};

Context::Context() : impl_(std::make_shared<Impl>()) {}

Context Context::from_env(const ContextOptions& options) {
  return create(launch_env(), options);
}

Context Context::create(const LaunchEnv& env, const ContextOptions& options) {
  if (options.timeout.count() <= 0) {
    fail(
        "dist::Context::create - timeout must be positive: {{got {} ms}}",
        options.timeout.count());
  }
  if (options.backend != "auto" && options.backend != "gloo" &&
      options.backend != "nccl") {
    fail(
        "dist::Context::create - unknown backend (auto, gloo, nccl): {{got "
        "'{}'}}",
        options.backend);
  }
  Context ctx;
  ctx.impl_->env = env;
  ctx.impl_->options = options;
  if (env.world_size <= 1) {
    ctx.impl_->env = LaunchEnv{};
    return ctx;
  }
#ifndef LTCL_DIST_HAS_NCCL
  if (options.backend == "nccl") {
    fail(
        "dist::Context::create - backend 'nccl' requested but this build "
        "has no NCCL (CPU LibTorch); use 'gloo' or 'auto'");
  }
#endif
#ifndef LTCL_WITH_DISTRIBUTED
  fail(
      "dist::Context::create - this ltcl was built without distributed "
      "support (LTCL_WITH_DISTRIBUTED=OFF): {{WORLD_SIZE={}}}",
      env.world_size);
#else
  Impl& impl = *ctx.impl_;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<std::size_t>(env.world_size);
    so.waitWorkers = true;
    so.timeout = options.timeout;
    impl.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    fail(
        "dist::Context::create - rendezvous at MASTER_ADDR:MASTER_PORT = "
        "{}:{} failed on rank {} of {} (timeout {} s{}): {}",
        env.master_addr,
        env.master_port,
        env.rank,
        env.world_size,
        seconds(options.timeout),
        env.rank == 0 ? "; is the port free?" : "; is rank 0 up?",
        message_of(e));
  }
  try {
    auto gloo_options =
        c10d::ProcessGroupGloo::Options::create(options.timeout);
    const std::string& addr = env.master_addr;
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
      gloo_options->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (addr == "127.0.0.1" || addr == "localhost" || addr == "::1") {
      gloo_options->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo_options->devices.push_back(
          c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl.cpu_group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", impl.store),
        env.rank,
        env.world_size,
        gloo_options);
  } catch (const std::exception& e) {
    fail(
        "dist::Context::create - Gloo process group set-up failed on rank {} "
        "of {} (timeout {} s): {}",
        env.rank,
        env.world_size,
        seconds(options.timeout),
        message_of(e));
  }
#ifdef LTCL_DIST_HAS_NCCL
  const bool want_nccl =
      options.backend == "nccl" ||
      (options.backend == "auto" && c10::cuda::device_count() > 0);
  if (want_nccl) {
    if (c10::cuda::device_count() == 0) {
      fail("dist::Context::create - backend 'nccl' but no CUDA device");
    }
    // Makes a timed-out NCCL collective abort the communicator (and raise)
    // instead of blocking forever.
    setenv("NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(
        env.local_rank % c10::cuda::device_count()));
    try {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      impl.cuda_group = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", impl.store),
          env.rank,
          env.world_size,
          nccl_options);
    } catch (const std::exception& e) {
      fail(
          "dist::Context::create - NCCL process group set-up failed on rank "
          "{}: {}",
          env.rank,
          message_of(e));
    }
  }
#endif
  // One round trip so that every rank leaves create() with a working group.
  ctx.barrier();
  return ctx;
#endif
}

int Context::rank() const {
  return impl_->env.rank;
}
int Context::world_size() const {
  return impl_->env.world_size;
}
int Context::local_rank() const {
  return impl_->env.local_rank;
}
std::chrono::milliseconds Context::timeout() const {
  return impl_->options.timeout;
}
std::string Context::backend_name() const {
  if (!distributed()) {
    return "single";
  }
  return has_cuda_backend() ? "gloo+nccl" : "gloo";
}
bool Context::has_cuda_backend() const {
#ifdef LTCL_WITH_DISTRIBUTED
  return static_cast<bool>(impl_->cuda_group);
#else
  return false;
#endif
}

// ---------------------------------------------------------------------------
// Collectives
// ---------------------------------------------------------------------------
#ifdef LTCL_WITH_DISTRIBUTED
namespace {

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAverage:  // Gloo has no AVG: sum, then divide
      return c10d::ReduceOp::SUM;
    case ReduceOp::kMin:
      return c10d::ReduceOp::MIN;
    case ReduceOp::kMax:
      return c10d::ReduceOp::MAX;
  }
  return c10d::ReduceOp::SUM;
}

}  // namespace
#endif

void Context::barrier() const {
#ifdef LTCL_WITH_DISTRIBUTED
  if (!distributed()) {
    return;
  }
  try {
    impl_->cpu_group->barrier()->wait();
  } catch (const std::exception& e) {
    impl_->rethrow("barrier", e);
  }
#endif
}

void Context::broadcast(at::Tensor& tensor, int root) const {
  TORCH_CHECK(
      root >= 0 && root < world_size(),
      "dist::Context::broadcast - root ",
      root,
      " outside [0, ",
      world_size(),
      ")");
#ifdef LTCL_WITH_DISTRIBUTED
  if (!distributed()) {
    return;
  }
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> buffers{tensor.contiguous()};
  try {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    impl_->group_for(tensor, "broadcast").broadcast(buffers, opts)->wait();
  } catch (const ltcl::Error&) {
    throw;
  } catch (const std::exception& e) {
    impl_->rethrow("broadcast", e);
  }
  if (!buffers[0].is_same(tensor)) {
    tensor.copy_(buffers[0]);
  }
#endif
}

Work Context::all_reduce_async(at::Tensor& tensor, ReduceOp op) const {
  auto w = std::make_shared<Work::Impl>();
  w->context = impl_;
  w->op = "all_reduce";
  w->target = tensor;
  w->buffer = tensor;
  if (!distributed()) {
    w->done = true;
    return Work(w);
  }
#ifdef LTCL_WITH_DISTRIBUTED
  at::NoGradGuard no_grad;
  w->buffer = tensor.contiguous();
  if (op == ReduceOp::kAverage) {
    TORCH_CHECK(
        at::isFloatingType(tensor.scalar_type()),
        "dist::Context::all_reduce - kAverage needs a floating tensor, got ",
        tensor.scalar_type());
    w->scale = 1.0 / world_size();
  }
  std::vector<at::Tensor> buffers{w->buffer};
  try {
    c10d::AllreduceOptions opts;
    opts.reduceOp = to_c10d(op);
    w->work = impl_->group_for(tensor, "all_reduce").allreduce(buffers, opts);
  } catch (const ltcl::Error&) {
    throw;
  } catch (const std::exception& e) {
    impl_->rethrow("all_reduce", e);
  }
#endif
  return Work(w);
}

void Context::all_reduce(at::Tensor& tensor, ReduceOp op) const {
  all_reduce_async(tensor, op).wait();
}

void Work::wait() {
  if (!impl_ || impl_->done) {
    return;
  }
#ifdef LTCL_WITH_DISTRIBUTED
  try {
    impl_->work->wait();
  } catch (const std::exception& e) {
    impl_->done = true;
    impl_->context->rethrow(impl_->op, e);
  }
  at::NoGradGuard no_grad;
  if (impl_->scale != 1.0) {
    impl_->buffer.mul_(impl_->scale);
  }
  if (!impl_->buffer.is_same(impl_->target)) {
    impl_->target.copy_(impl_->buffer);
  }
#endif
  impl_->done = true;
}

bool Work::completed() const {
  if (!impl_ || impl_->done) {
    return true;
  }
#ifdef LTCL_WITH_DISTRIBUTED
  return impl_->work->isCompleted();
#else
  return true;
#endif
}

std::vector<int64_t> Context::all_gather_sizes(int64_t local_size) const {
  if (!distributed()) {
    return {local_size};
  }
  at::Tensor mine = at::full({1}, local_size, at::kLong);
  at::Tensor all = all_gather(mine);
  const int64_t* p = all.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + world_size());
}

at::Tensor Context::all_gather(const at::Tensor& tensor) const {
  TORCH_CHECK(
      tensor.dim() >= 1,
      "dist::Context::all_gather - needs a tensor with a dim 0, got a "
      "0-dim tensor");
  at::NoGradGuard no_grad;
  if (!distributed()) {
    return tensor.detach().clone();
  }
#ifdef LTCL_WITH_DISTRIBUTED
  // Sizes first (except for the size exchange itself, a 1-element tensor),
  // so that ranks may contribute different numbers of rows.
  const bool is_size_exchange = tensor.dim() == 1 && tensor.numel() == 1 &&
                                tensor.scalar_type() == at::kLong &&
                                !tensor.is_cuda();
  std::vector<int64_t> sizes;
  int64_t max_rows = tensor.size(0);
  if (!is_size_exchange) {
    sizes = all_gather_sizes(tensor.size(0));
    max_rows = *std::max_element(sizes.begin(), sizes.end());
  }
  at::Tensor input = tensor.detach().contiguous();
  if (input.size(0) < max_rows) {
    auto padded_shape = input.sizes().vec();
    padded_shape[0] = max_rows;
    at::Tensor padded = at::zeros(padded_shape, input.options());
    padded.narrow(0, 0, input.size(0)).copy_(input);
    input = padded;
  }
  std::vector<at::Tensor> inputs{input};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < world_size(); ++r) {
    outputs[0].push_back(at::empty_like(input));
  }
  try {
    impl_->group_for(tensor, "all_gather").allgather(outputs, inputs)->wait();
  } catch (const ltcl::Error&) {
    throw;
  } catch (const std::exception& e) {
    impl_->rethrow("all_gather", e);
  }
  if (!is_size_exchange) {
    for (int r = 0; r < world_size(); ++r) {
      outputs[0][r] = outputs[0][r].narrow(0, 0, sizes[r]);
    }
  }
  return at::cat(outputs[0], 0);
#else
  return tensor.detach().clone();
#endif
}

}  // namespace ltcl::dist
