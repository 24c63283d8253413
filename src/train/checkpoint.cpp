#include "ltcl/train/checkpoint.h"

#include <cstring>
#include <set>
#include <filesystem>
#include <sstream>

#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#ifdef LTCL_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"
#include "ltcl/util/guard.h"
#include "ltcl/util/record_file.h"
#include "optimizer_state.h"

namespace ltcl::train {
namespace {

using util::DType;
using util::Record;
using util::RecordFile;
using util::RecordSource;
using detail::state_key;

// Record names: "param/<model name>", "buffer/<model name>",
// "momentum/<parameter name>", "sampler/<name>", "rng/cpu", "rng/cuda",
// "tensor/<name>". The table's meta holds the scalars and texts.
constexpr const char* kParam = "param/";
constexpr const char* kBuffer = "buffer/";
constexpr const char* kMomentum = "momentum/";
constexpr const char* kSampler = "sampler/";
constexpr const char* kTensor = "tensor/";
constexpr const char* kKind = "ltcl checkpoint";

at::Tensor to_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong);
}

std::vector<int64_t> to_vector(const at::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(
      c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

DType to_dtype(at::ScalarType t, const std::string& what) {
  switch (t) {
    case at::kFloat: return DType::kFloat32;
    case at::kDouble: return DType::kFloat64;
    case at::kHalf: return DType::kFloat16;
    case at::kBFloat16: return DType::kBFloat16;
    case at::kLong: return DType::kInt64;
    case at::kInt: return DType::kInt32;
    case at::kShort: return DType::kInt16;
    case at::kChar: return DType::kInt8;
    case at::kByte: return DType::kUInt8;
    case at::kBool: return DType::kBool;
    default: break;
  }
  fail("save_checkpoint - {} has dtype {}, which checkpoints do not store",
       what, c10::toString(t));
}

at::ScalarType to_scalar(DType d) {
  switch (d) {
    case DType::kFloat32: return at::kFloat;
    case DType::kFloat64: return at::kDouble;
    case DType::kFloat16: return at::kHalf;
    case DType::kBFloat16: return at::kBFloat16;
    case DType::kInt64: return at::kLong;
    case DType::kInt32: return at::kInt;
    case DType::kInt16: return at::kShort;
    case DType::kInt8: return at::kChar;
    case DType::kUInt8: return at::kByte;
    case DType::kBool: return at::kBool;
  }
  return at::kFloat;
}

// Tensors the writer stores, kept alive (CPU, contiguous) until written.
class Records {
 public:
  void add(const std::string& name, const at::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    RecordSource r;
    r.name = name;
    r.dtype = to_dtype(c.scalar_type(), "'" + name + "'");
    r.shape = c.sizes().vec();
    r.data = c.data_ptr();
    keep_.push_back(c);
    list_.push_back(std::move(r));
  }
  const std::vector<RecordSource>& list() const { return list_; }

 private:
  std::vector<at::Tensor> keep_;
  std::vector<RecordSource> list_;
};

// The parameters' names by TensorImpl (the optimizer holds the tensors).
std::map<const void*, std::string> parameter_names(
    const torch::nn::Module& model) {
  std::map<const void*, std::string> out;
  for (const auto& p : model.named_parameters()) {
    out[p.value().unsafeGetTensorImpl()] = p.key();
  }
  return out;
}

const torch::optim::SGDOptions& sgd_options(
    const torch::optim::OptimizerParamGroup& group, const char* who) {
  const auto* o = dynamic_cast<const torch::optim::SGDOptions*>(
      &group.options());
  if (!o) {
    fail("{} - only SGD's optimizer state is stored in checkpoints", who);
  }
  return *o;
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

// A verified record as a CPU tensor (a copy: the file's bytes go away).
at::Tensor tensor_of(const RecordFile& file, const Record& r) {
  auto t = at::empty(r.shape, at::TensorOptions().dtype(to_scalar(r.dtype)));
  if (r.nbytes > 0) {
    std::memcpy(t.data_ptr(), file.data(r), r.nbytes);
  }
  return t;
}

// A record that must match `like` (name, dtype and shape), or an error
// naming the file and the tensor.
const Record& matching(
    const RecordFile& file,
    const std::string& name,
    const at::Tensor& like,
    const char* what) {
  const Record* r = file.find(name);
  if (!r) {
    fail(
        "load_checkpoint - '{}' does not match the model: no {} '{}'",
        file.source(),
        what,
        name.substr(name.find('/') + 1));
  }
  if (r->shape != like.sizes().vec()) {
    fail(
        "load_checkpoint - '{}' does not match the model: '{}' has shape "
        "{} in the file, {} in the model",
        file.source(),
        name.substr(name.find('/') + 1),
        r->shape,
        like.sizes().vec());
  }
  if (to_scalar(r->dtype) != like.scalar_type()) {
    fail(
        "load_checkpoint - '{}' does not match the model: '{}' is {} in the "
        "file, {} in the model",
        file.source(),
        name.substr(name.find('/') + 1),
        util::dtype_name(r->dtype),
        c10::toString(like.scalar_type()));
  }
  return *r;
}

template <typename T>
T meta_value(const RecordFile& file, const char* key) {
  const nlohmann::json* v = util::typed_member<T>(file.meta(), key);
  if (!v) {
    fail(
        "load_checkpoint - '{}': its table has no valid '{}'",
        file.source(),
        key);
  }
  return v->template get<T>();
}

// Model and optimizer checked against the file completely before anything
// is copied: a mismatch leaves both untouched.
void load_model_and_optimizer(
    const RecordFile& file,
    torch::nn::Module* model,
    torch::optim::Optimizer* optimizer,
    c10::Device device) {
  std::vector<std::pair<at::Tensor, const Record*>> copies;
  size_t expected = 0;
  if (model) {
    for (auto& p : model->named_parameters()) {
      copies.emplace_back(
          p.value(), &matching(file, kParam + p.key(), p.value(), "parameter"));
    }
    for (auto& b : model->named_buffers()) {
      copies.emplace_back(
          b.value(), &matching(file, kBuffer + b.key(), b.value(), "buffer"));
    }
    expected = copies.size();
    size_t in_file = 0;
    for (const auto& r : file.records()) {
      if (r.name.rfind(kParam, 0) == 0 || r.name.rfind(kBuffer, 0) == 0) {
        ++in_file;
      }
    }
    if (in_file != expected) {
      for (const auto& r : file.records()) {
        const bool param = r.name.rfind(kParam, 0) == 0;
        if (!param && r.name.rfind(kBuffer, 0) != 0) {
          continue;
        }
        const std::string name = r.name.substr(r.name.find('/') + 1);
        const bool own = param ? model->named_parameters().contains(name)
                               : model->named_buffers().contains(name);
        if (!own) {
          fail(
              "load_checkpoint - '{}' does not match the model: the file "
              "holds '{}', which the model lacks",
              file.source(),
              name);
        }
      }
    }
  }
  std::vector<std::pair<at::Tensor, const Record*>> momenta;
  if (optimizer) {
    const auto& meta = file.meta();
    auto groups = meta.find("optimizer");
    if (groups == meta.end() || !groups->is_array()) {
      fail("load_checkpoint - '{}' holds no optimizer state", file.source());
    }
    auto& own = optimizer->param_groups();
    if (groups->size() != own.size()) {
      fail(
          "load_checkpoint - '{}' does not match the optimizer: {} parameter "
          "groups in the file, {} here",
          file.source(),
          groups->size(),
          own.size());
    }
    if (!model) {
      fail("load_checkpoint - an optimizer needs its model");
    }
    const auto names = parameter_names(*model);
    for (size_t g = 0; g < own.size(); ++g) {
      const auto& saved = (*groups)[g];
      auto params = saved.is_object() ? saved.find("params") : saved.end();
      if (params == saved.end() || !params->is_array()) {
        fail(
            "load_checkpoint - '{}': optimizer group {} of its table has no "
            "'params'",
            file.source(),
            g);
      }
      const auto& ps = own[g].params();
      if (params->size() != ps.size()) {
        fail(
            "load_checkpoint - '{}' does not match the optimizer: group {} "
            "has {} parameters in the file, {} here",
            file.source(),
            g,
            params->size(),
            ps.size());
      }
      for (size_t k = 0; k < ps.size(); ++k) {
        auto n = names.find(ps[k].unsafeGetTensorImpl());
        if (n == names.end()) {
          fail("load_checkpoint - an optimizer parameter is not the model's");
        }
        if (!(*params)[k].is_string() ||
            (*params)[k].get<std::string>() != n->second) {
          fail(
              "load_checkpoint - '{}' does not match the optimizer: group {} "
              "parameter {} is '{}' here, not what the file holds",
              file.source(),
              g,
              k,
              n->second);
        }
        if (file.find(kMomentum + n->second)) {
          momenta.emplace_back(
              ps[k],
              &matching(file, kMomentum + n->second, ps[k], "momentum buffer"));
        }
      }
      // The buffers the table lists must all be there (a lost one would
      // resume with zero momentum, not where the run was), and only those.
      auto listed = saved.find("momentum_buffers");
      if (listed != saved.end()) {
        if (!listed->is_array()) {
          fail(
              "load_checkpoint - '{}': optimizer group {} of its table has an "
              "invalid 'momentum_buffers' (not a list)",
              file.source(),
              g);
        }
        std::set<std::string> names_of_group;
        for (const auto& v : *params) {
          names_of_group.insert(v.get<std::string>());
        }
        size_t present = 0;
        for (const auto& name : names_of_group) {
          present += file.find(kMomentum + name) != nullptr ? 1 : 0;
        }
        for (const auto& v : *listed) {
          if (!v.is_string() || !names_of_group.count(v.get<std::string>())) {
            fail(
                "load_checkpoint - '{}': optimizer group {} lists a momentum "
                "buffer that is not one of its parameters",
                file.source(),
                g);
          }
          if (!file.find(kMomentum + v.get<std::string>())) {
            fail(
                "load_checkpoint - '{}': record 'momentum/{}' is missing "
                "(the table lists it; without it the run cannot continue "
                "exactly)",
                file.source(),
                v.get<std::string>());
          }
        }
        if (present != listed->size()) {
          fail(
              "load_checkpoint - '{}': optimizer group {} has {} momentum "
              "records, its table lists {}",
              file.source(),
              g,
              present,
              listed->size());
        }
      }
      for (const char* key :
           {"lr", "momentum", "dampening", "weight_decay", "nesterov"}) {
        const bool ok = std::strcmp(key, "nesterov") == 0
            ? util::typed_member<bool>(saved, key) != nullptr
            : util::typed_member<double>(saved, key) != nullptr;
        if (!ok) {
          fail(
              "load_checkpoint - '{}': optimizer group {} of its table has no "
              "valid '{}'",
              file.source(),
              g,
              key);
        }
      }
      (void)sgd_options(own[g], "load_checkpoint");
    }
  }
  // Everything matches: copy.
  torch::NoGradGuard no_grad;
  for (auto& [dst, r] : copies) {
    dst.copy_(tensor_of(file, *r));
  }
  if (optimizer) {
    const auto& groups = file.meta()["optimizer"];
    auto& own = optimizer->param_groups();
    for (size_t g = 0; g < own.size(); ++g) {
      auto& o = static_cast<torch::optim::SGDOptions&>(own[g].options());
      o.lr(groups[g]["lr"].get<double>());
      o.momentum(groups[g]["momentum"].get<double>());
      o.dampening(groups[g]["dampening"].get<double>());
      o.weight_decay(groups[g]["weight_decay"].get<double>());
      o.nesterov(groups[g]["nesterov"].get<bool>());
    }
    auto& state = optimizer->state();
    state.clear();
    for (auto& [param, r] : momenta) {
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(tensor_of(file, *r).to(device));
      state[state_key(state, param)] = std::move(s);
    }
  }
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
    throw util::NonFiniteState(fmt::format(
        "save_checkpoint - '{}' not written: {} holds NaN or infinite "
        "values (the training diverged; the previous checkpoint is kept)",
        path,
        bad));
  }
  nlohmann::json meta = {
      {"kind", kKind},
      {"version", kCheckpointVersion},
      {"epoch", state.epoch},
      {"step_in_epoch", state.step_in_epoch},
      {"global_step", state.global_step},
      {"best_metric", state.best_metric},
      {"best_epoch", state.best_epoch},
      {"config_yaml", state.config_yaml},
      {"std_rng", state.std_rng},
      {"history_json", state.history_json},
      {"model_info", state.model_info},
  };
  Records records;
  for (const auto& p : model.named_parameters()) {
    records.add(kParam + p.key(), p.value());
  }
  for (const auto& b : model.named_buffers()) {
    records.add(kBuffer + b.key(), b.value());
  }
  if (optimizer) {
    const auto names = parameter_names(model);
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& group : optimizer->param_groups()) {
      const auto& o = sgd_options(group, "save_checkpoint");
      nlohmann::json params = nlohmann::json::array();
      // Which parameters have a momentum buffer (SGD makes it at a
      // parameter's first update): a resume checks that each is there.
      nlohmann::json with_momentum = nlohmann::json::array();
      for (const auto& p : group.params()) {
        auto n = names.find(p.unsafeGetTensorImpl());
        if (n == names.end()) {
          fail("save_checkpoint - an optimizer parameter is not the model's");
        }
        params.push_back(n->second);
        auto s = optimizer->state().find(state_key(optimizer->state(), p));
        if (s != optimizer->state().end()) {
          const auto* sgd =
              dynamic_cast<const torch::optim::SGDParamState*>(s->second.get());
          if (sgd && sgd->momentum_buffer().defined()) {
            records.add(kMomentum + n->second, sgd->momentum_buffer());
            with_momentum.push_back(n->second);
          }
        }
      }
      groups.push_back({
          {"lr", o.lr()},
          {"momentum", o.momentum()},
          {"dampening", o.dampening()},
          {"weight_decay", o.weight_decay()},
          {"nesterov", o.nesterov()},
          {"params", params},
          {"momentum_buffers", with_momentum},
      });
    }
    meta["optimizer"] = groups;
  }
  for (const auto& [name, v] : state.samplers) {
    records.add(kSampler + name, to_tensor(v));
  }
  if (state.torch_rng.defined()) {
    records.add("rng/cpu", state.torch_rng);
  }
  if (state.cuda_rng.defined()) {
    records.add("rng/cuda", state.cuda_rng);
  }
  for (const auto& [name, t] : state.tensors) {
    records.add(kTensor + name, t);
  }
  util::atomic_write(path, [&](const util::WriteBytes& write) {
    util::write_record_file(write, meta, records.list());
  });
}

Checkpoint load_checkpoint(
    const std::string& path,
    torch::nn::Module* model,
    torch::optim::Optimizer* optimizer,
    c10::Device device) {
  if (!std::filesystem::exists(path)) {
    fail("load_checkpoint - no checkpoint file '{}'", path);
  }
  // Every byte is verified here, before anything is interpreted.
  const RecordFile file = RecordFile::read(path);
  const auto kind = file.meta().find("kind");
  if (kind == file.meta().end() || !kind->is_string() ||
      kind->get<std::string>() != kKind) {
    fail("load_checkpoint - '{}' is not an ltcl checkpoint", path);
  }
  const auto version = meta_value<int64_t>(file, "version");
  if (version != kCheckpointVersion) {
    fail(
        "load_checkpoint - '{}' has checkpoint version {}, this build reads "
        "{}",
        path,
        version,
        kCheckpointVersion);
  }
  Checkpoint state;
  state.epoch = meta_value<int64_t>(file, "epoch");
  state.step_in_epoch = meta_value<int64_t>(file, "step_in_epoch");
  state.global_step = meta_value<int64_t>(file, "global_step");
  state.best_metric = meta_value<double>(file, "best_metric");
  state.best_epoch = meta_value<int64_t>(file, "best_epoch");
  state.config_yaml = meta_value<std::string>(file, "config_yaml");
  state.std_rng = meta_value<std::string>(file, "std_rng");
  state.history_json = meta_value<std::string>(file, "history_json");
  state.model_info = meta_value<std::string>(file, "model_info");
  if (state.epoch < 0 || state.step_in_epoch < 0 || state.global_step < 0) {
    fail(
        "load_checkpoint - '{}': negative epoch or step in its table", path);
  }
  for (const auto& r : file.records()) {
    auto after = [&](const char* prefix) { return r.name.substr(std::strlen(prefix)); };
    if (r.name.rfind(kSampler, 0) == 0) {
      if (r.dtype != DType::kInt64 || r.shape.size() != 1) {
        fail("load_checkpoint - '{}': sampler '{}' is not a list of int64",
             path, after(kSampler));
      }
      state.samplers[after(kSampler)] = to_vector(tensor_of(file, r));
    } else if (r.name.rfind(kTensor, 0) == 0) {
      state.tensors[after(kTensor)] = tensor_of(file, r);
    } else if (r.name == "rng/cpu" || r.name == "rng/cuda") {
      if (r.dtype != DType::kUInt8 || r.shape.size() != 1) {
        fail("load_checkpoint - '{}': '{}' is not a byte list", path, r.name);
      }
      (r.name == "rng/cpu" ? state.torch_rng : state.cuda_rng) =
          tensor_of(file, r);
    }
  }
  load_model_and_optimizer(file, model, optimizer, device);
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

void check_rng(const Checkpoint& state, const std::string& path) {
  if (!state.torch_rng.defined()) {
    fail(
        "load_checkpoint - '{}': record 'rng/cpu' is missing (the random "
        "state the run continues from)",
        path);
  }
  // Tried on a generator of its own: a state LibTorch refuses names the
  // record instead of reaching the user as LibTorch's error.
  auto scratch = at::make_generator<at::CPUGeneratorImpl>();
  try {
    scratch.set_state(state.torch_rng);
  } catch (const c10::Error&) {
    fail(
        "load_checkpoint - '{}': record 'rng/cpu' ({} bytes) is not a CPU "
        "random state this LibTorch restores",
        path,
        state.torch_rng.numel());
  }
#ifdef LTCL_HAS_CUDA
  if (state.cuda_rng.defined() && torch::cuda::is_available()) {
    const auto size =
        at::cuda::detail::getDefaultCUDAGenerator().get_state().numel();
    if (state.cuda_rng.numel() != size) {
      fail(
          "load_checkpoint - '{}': record 'rng/cuda' has {} bytes, a CUDA "
          "random state {}",
          path,
          state.cuda_rng.numel(),
          size);
    }
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
