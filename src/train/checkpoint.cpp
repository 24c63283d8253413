#include "ltcl/train/checkpoint.h"

#include <filesystem>

#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#ifdef LTCL_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"

namespace ltcl::train {
namespace {

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

at::Tensor to_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong);
}

std::vector<int64_t> to_vector(const at::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(
      c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Keys of a name -> tensor map are stored as one string list + sub-archive.
void write_map(
    torch::serialize::OutputArchive& archive,
    const std::string& key,
    const std::map<std::string, at::Tensor>& values) {
  torch::serialize::OutputArchive sub;
  c10::List<std::string> names;
  for (const auto& [name, tensor] : values) {
    names.push_back(name);
    sub.write("t." + name, tensor);
  }
  sub.write("names", c10::IValue(names));
  archive.write(key, sub);
}

std::map<std::string, at::Tensor> read_map(
    torch::serialize::InputArchive& archive,
    const std::string& key) {
  std::map<std::string, at::Tensor> out;
  torch::serialize::InputArchive sub;
  if (!archive.try_read(key, sub)) {
    return out;
  }
  c10::IValue names;
  sub.read("names", names);
  for (const auto& name : names.toListRef()) {
    at::Tensor t;
    sub.read("t." + name.toStringRef(), t);
    out[name.toStringRef()] = t;
  }
  return out;
}

// Loads parameters and buffers of `module` (recursively) from `archive`,
// checking each shape and copying into the module's own tensors (so they keep
// their device). Module::load would accept a tensor of another shape.
void load_module(
    torch::nn::Module& module,
    torch::serialize::InputArchive& archive,
    const std::string& prefix,
    const std::string& path) {
  torch::NoGradGuard no_grad;
  auto load_one = [&](const std::string& name, at::Tensor& dst, bool buffer) {
    at::Tensor src;
    if (!archive.try_read(name, src, buffer)) {
      fail(
          "load_checkpoint - '{}' does not match the model: no tensor '{}{}'",
          path,
          prefix,
          name);
    }
    if (src.sizes() != dst.sizes()) {
      fail(
          "load_checkpoint - '{}' does not match the model: '{}{}' has shape "
          "{} in the file, {} in the model",
          path,
          prefix,
          name,
          src.sizes().vec(),
          dst.sizes().vec());
    }
    dst.copy_(src);
  };
  for (auto& p : module.named_parameters(/*recurse=*/false)) {
    load_one(p.key(), p.value(), false);
  }
  for (auto& b : module.named_buffers(/*recurse=*/false)) {
    load_one(b.key(), b.value(), true);
  }
  for (auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub)) {
      fail(
          "load_checkpoint - '{}' does not match the model: no module '{}{}'",
          path,
          prefix,
          child.key());
    }
    load_module(*child.value(), sub, prefix + child.key() + ".", path);
  }
}

// The first parameter, buffer or optimizer-state tensor holding a NaN or an
// infinity, by name; empty when all are finite.
std::string first_non_finite(
    const torch::nn::Module& model,
    const torch::optim::Optimizer* optimizer) {
  auto bad = [](const at::Tensor& t) {
    return t.defined() && t.is_floating_point() &&
        !torch::isfinite(t).all().item<bool>();
  };
  for (const auto& p : model.named_parameters()) {
    if (bad(p.value())) {
      return "parameter '" + p.key() + "'";
    }
  }
  for (const auto& b : model.named_buffers()) {
    if (bad(b.value())) {
      return "buffer '" + b.key() + "'";
    }
  }
  if (optimizer) {
    for (const auto& entry : optimizer->state()) {
      if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(
              entry.second.get())) {
        if (bad(sgd->momentum_buffer())) {
          return "an optimizer momentum buffer";
        }
      }
    }
  }
  return "";
}

}  // namespace

void save_checkpoint(
    const std::string& path,
    const torch::nn::Module& model,
    const torch::optim::Optimizer* optimizer,
    const Checkpoint& state) {
  // Only finite state is ever written: a diverged model must not replace
  // the last good checkpoint (the NaN guard stops the run next).
  const std::string bad = first_non_finite(model, optimizer);
  if (!bad.empty()) {
    fail(
        "save_checkpoint - '{}' not written: {} holds NaN or infinite "
        "values (the training diverged; the previous checkpoint is kept)",
        path,
        bad);
  }
  torch::serialize::OutputArchive archive;
  archive.write("ltcl_checkpoint", c10::IValue(kCheckpointVersion));
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive optim_archive;
    optimizer->save(optim_archive);
    archive.write("optimizer", optim_archive);
  }
  archive.write("epoch", c10::IValue(state.epoch));
  archive.write("step_in_epoch", c10::IValue(state.step_in_epoch));
  archive.write("global_step", c10::IValue(state.global_step));
  archive.write("best_metric", c10::IValue(state.best_metric));
  archive.write("best_epoch", c10::IValue(state.best_epoch));
  archive.write("config_yaml", c10::IValue(state.config_yaml));
  archive.write("std_rng", c10::IValue(state.std_rng));
  archive.write("history_json", c10::IValue(state.history_json));
  archive.write("model_info", c10::IValue(state.model_info));
  std::map<std::string, at::Tensor> samplers;
  for (const auto& [name, v] : state.samplers) {
    samplers[name] = to_tensor(v);
  }
  write_map(archive, "samplers", samplers);
  std::map<std::string, at::Tensor> rng;
  if (state.torch_rng.defined()) {
    rng["cpu"] = state.torch_rng;
  }
  if (state.cuda_rng.defined()) {
    rng["cuda"] = state.cuda_rng;
  }
  write_map(archive, "rng", rng);
  write_map(archive, "tensors", state.tensors);
  try {
    util::atomic_write(path, [&](const util::WriteBytes& write) {
      archive.save_to([&](const void* data, size_t size) -> size_t {
        write(data, size);
        return size;
      });
    });
  } catch (const c10::Error& e) {
    fail(
        "save_checkpoint - cannot write '{}': {}",
        path,
        first_line(e.what_without_backtrace()));
  }
}

Checkpoint load_checkpoint(
    const std::string& path,
    torch::nn::Module* model,
    torch::optim::Optimizer* optimizer,
    c10::Device device) {
  if (!std::filesystem::is_regular_file(path)) {
    fail("load_checkpoint - no checkpoint file '{}'", path);
  }
  Checkpoint state;
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const c10::Error& e) {
    fail(
        "load_checkpoint - '{}' is corrupt or truncated (not a readable "
        "archive): {}",
        path,
        first_line(e.what_without_backtrace()));
  }
  c10::IValue v;
  if (!archive.try_read("ltcl_checkpoint", v) || !v.isInt()) {
    fail("load_checkpoint - '{}' is not an ltcl checkpoint", path);
  }
  if (v.toInt() != kCheckpointVersion) {
    fail(
        "load_checkpoint - '{}' has format version {}, this build reads {}",
        path,
        v.toInt(),
        kCheckpointVersion);
  }
  try {
    if (model) {
      torch::serialize::InputArchive model_archive;
      archive.read("model", model_archive);
      load_module(*model, model_archive, "", path);
    }
    if (optimizer) {
      torch::serialize::InputArchive optim_archive;
      if (!archive.try_read("optimizer", optim_archive)) {
        fail("load_checkpoint - '{}' holds no optimizer state", path);
      }
      optimizer->load(optim_archive);
      // The optimizer state was read to the CPU; move it next to the
      // parameters it belongs to.
      if (device.type() != c10::DeviceType::CPU) {
        for (auto& kv : optimizer->state()) {
          auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(kv.second.get());
          if (sgd && sgd->momentum_buffer().defined()) {
            sgd->momentum_buffer(sgd->momentum_buffer().to(device));
          }
        }
      }
    }
    auto read = [&](const char* key) {
      c10::IValue x;
      archive.read(key, x);
      return x;
    };
    state.epoch = read("epoch").toInt();
    state.step_in_epoch = read("step_in_epoch").toInt();
    state.global_step = read("global_step").toInt();
    state.best_metric = read("best_metric").toDouble();
    state.best_epoch = read("best_epoch").toInt();
    state.config_yaml = read("config_yaml").toStringRef();
    state.std_rng = read("std_rng").toStringRef();
    state.history_json = read("history_json").toStringRef();
    c10::IValue info;
    if (archive.try_read("model_info", info) && info.isString()) {
      state.model_info = info.toStringRef();  // absent before 2026-12
    }
    for (const auto& [name, t] : read_map(archive, "samplers")) {
      state.samplers[name] = to_vector(t);
    }
    auto rng = read_map(archive, "rng");
    if (rng.count("cpu")) {
      state.torch_rng = rng["cpu"];
    }
    if (rng.count("cuda")) {
      state.cuda_rng = rng["cuda"];
    }
    state.tensors = read_map(archive, "tensors");
  } catch (const c10::Error& e) {
    fail(
        "load_checkpoint - '{}' does not match (model or optimizer "
        "layout differs, or the file is damaged): {}",
        path,
        first_line(e.what_without_backtrace()));
  }
  return state;
}

void capture_rng(Checkpoint& state) {
  state.torch_rng = at::detail::getDefaultCPUGenerator().get_state();
#ifdef LTCL_HAS_CUDA
  if (torch::cuda::is_available()) {
    state.cuda_rng = at::cuda::detail::getDefaultCUDAGenerator().get_state();
  }
#endif
}

void restore_rng(const Checkpoint& state) {
  if (state.torch_rng.defined()) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.torch_rng.to(torch::kCPU));
  }
#ifdef LTCL_HAS_CUDA
  if (state.cuda_rng.defined() && torch::cuda::is_available()) {
    auto gen = at::cuda::detail::getDefaultCUDAGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.cuda_rng.to(torch::kCPU));
  }
#endif
}

}  // namespace ltcl::train
