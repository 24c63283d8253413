#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped.
//
// One file (format 2, util/record_file.h: a JSON table and raw tensor
// records, each CRC-32 checked; it holds no code) holds the model's parameters and
// buffers, the optimizer state (momentum buffers), the position in the run
// (epoch, step in epoch, global step), the sampler states, the random states
// (torch's CPU generator and an optional std engine), the resolved config
// text, the best metric, the learning-curve history and what inference
// needs (class counts and names, image size and normalisation). It is written
// atomically (util/atomic_file.h): a crash, a full disk or a write error
// mid-write keeps the previous file and leaves no temporary file.
// A run folder holds `last.pt` (latest) and `best.pt` (best evaluation).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace ltcl::train {

inline constexpr const char* kLastCheckpoint = "last.pt";
inline constexpr const char* kBestCheckpoint = "best.pt";
inline constexpr int64_t kCheckpointVersion = 2;

struct Checkpoint {
  int64_t epoch = 0;  // the epoch in progress (0-based)
  int64_t step_in_epoch = 0;  // steps of `epoch` already done
  int64_t global_step = 0;  // steps done in the whole run
  double best_metric = -1.0;  // best evaluation top-1 so far (-1: none)
  int64_t best_epoch = -1;
  std::string config_yaml;  // the resolved config (to_yaml)
  // Sampler states by name ("train", "balanced", ...).
  std::map<std::string, std::vector<int64_t>> samplers;
  at::Tensor torch_rng;  // CPU generator state (empty: not saved)
  at::Tensor cuda_rng;  // CUDA generator state (empty: not saved)
  std::string std_rng;  // a std engine, streamed with operator<<
  std::string history_json;  // learning curves so far (JSON array)
  // What inference needs without the training data (train/saved_model.h:
  // class counts and names, image size, normalisation), as JSON; empty in
  // checkpoints written before it existed.
  std::string model_info;
  std::map<std::string, at::Tensor> tensors;  // anything else, by name
};

// Writes `state`, the model and the optimizer (if not null) to `path`
// atomically. Throws ltcl::Error naming the file on failure.
void save_checkpoint(
    const std::string& path,
    const torch::nn::Module& model,
    const torch::optim::Optimizer* optimizer,
    const Checkpoint& state);

// Reads `path`; loads the model and optimizer (each if not null) in place,
// mapping tensors to `device`. The whole file is verified (every record's
// CRC, the table's structure) and matched against the model and optimizer
// (names, shapes, dtypes) before anything is copied: a missing, corrupt,
// truncated or foreign file (LibTorch archives of format 1 included), or
// one that does not match, throws ltcl::Error naming the file and leaves the
// model and optimizer untouched. With an optimizer, every momentum buffer
// the file's table lists must be a record of the right shape and dtype
// (tables written before the list existed are read as they are).
Checkpoint load_checkpoint(
    const std::string& path,
    torch::nn::Module* model,
    torch::optim::Optimizer* optimizer,
    c10::Device device = c10::Device(c10::DeviceType::CPU));

// The generator states of this process, to store in / restore from a
// Checkpoint (torch_rng, and cuda_rng when CUDA is present).
void capture_rng(Checkpoint& state);
void restore_rng(const Checkpoint& state);

// What --resume needs of the random states, read from `path`: a CPU state
// ('rng/cpu') this LibTorch's generator accepts and, when saved, a CUDA
// state of the right size. Throws ltcl::Error naming the file and the record
// (restore_rng would otherwise fail inside LibTorch).
void check_rng(const Checkpoint& state, const std::string& path);

}  // namespace ltcl::train
