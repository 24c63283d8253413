#pragma once
// SGD's per-parameter state (the momentum buffer), read and written by
// parameter: shared by the checkpoint reader / writer and the trainer's NaN
// guard (private to src/train).
#include <sstream>
#include <type_traits>

#include <torch/torch.h>

namespace ltcl::train::detail {

// The optimizer's state map is keyed by a string of the parameter's
// TensorImpl address in LibTorch 1.13 and by the address itself in later
// versions: compute whichever key type this LibTorch uses.
template <typename Map>
typename Map::key_type state_key(const Map&, const at::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    // What c10::guts::to_string(pointer) wrote in 1.13 (gone in 2.x).
    std::ostringstream key;
    key << static_cast<const void*>(p.unsafeGetTensorImpl());
    return key.str();
  } else {
    return reinterpret_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// The momentum buffer of `p` (undefined when SGD has made none yet: before
// the parameter's first update).
inline at::Tensor momentum_of(
    const torch::optim::Optimizer& optimizer,
    const at::Tensor& p) {
  const auto& state = optimizer.state();
  auto it = state.find(state_key(state, p));
  if (it == state.end()) {
    return {};
  }
  const auto* sgd =
      dynamic_cast<const torch::optim::SGDParamState*>(it->second.get());
  return sgd ? sgd->momentum_buffer() : at::Tensor();
}

// Sets `p`'s momentum buffer to `m` (the tensor itself, not a copy), or
// removes `p`'s state when `m` is undefined.
inline void set_momentum(
    torch::optim::Optimizer& optimizer,
    const at::Tensor& p,
    const at::Tensor& m) {
  auto& state = optimizer.state();
  const auto key = state_key(state, p);
  if (!m.defined()) {
    state.erase(key);
    return;
  }
  auto s = std::make_unique<torch::optim::SGDParamState>();
  s->momentum_buffer(m);
  state[key] = std::move(s);
}

}  // namespace ltcl::train::detail
