#pragma once
// The built-in methods' rooms (src/train/methods/*.cpp), each adding its
// MethodInfo(s) to the registry (registry.cpp calls them in this order).
#include <ATen/core/Tensor.h>

#include <vector>

#include "ltcl/train/method.h"

namespace ltcl::train::rooms {

// Keeps a model's buffers (BatchNorm running statistics and counters, method
// state) and puts them back when it goes out of scope: a forward pass run
// only to read outputs (an accumulated step's first pass) then leaves the
// model as it found it.
class BufferSnapshot {
 public:
  explicit BufferSnapshot(models::NetworkImpl& model);
  ~BufferSnapshot();
  BufferSnapshot(const BufferSnapshot&) = delete;
  BufferSnapshot& operator=(const BufferSnapshot&) = delete;

 private:
  std::vector<at::Tensor> buffers_;  // the model's (shared storage)
  std::vector<at::Tensor> saved_;  // their values at construction
};

void add_ce_family(std::vector<MethodInfo>& out);  // ce, la, bs, focal
// loss.la_tau, declared by the CE family and the contrastive core.
void add_la_tau_key(ConfigSchema& schema);
void add_ldam_drw(std::vector<MethodInfo>& out);
void add_contrastive_core(std::vector<MethodInfo>& out);  // SupCon+LA .. BCL+RCL
void add_rescom(std::vector<MethodInfo>& out);
void add_hybrid(std::vector<MethodInfo>& out);  // Hybrid-SC, Hybrid-PSC
void add_proco(std::vector<MethodInfo>& out);
void add_paco(std::vector<MethodInfo>& out);  // paco, gpaco

}  // namespace ltcl::train::rooms
