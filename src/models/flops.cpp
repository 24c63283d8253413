#include "ltcl/models/flops.h"

#include <ATen/record_function.h>
#include <ATen/core/ivalue.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "ltcl/util/error.h"

namespace ltcl::models {

double conv_flops(
    const std::vector<int64_t>& input,
    const std::vector<int64_t>& weight,
    const std::vector<int64_t>& stride,
    const std::vector<int64_t>& padding,
    const std::vector<int64_t>& dilation,
    bool transposed,
    int64_t groups) {
  const size_t dims = input.size() >= 2 ? input.size() - 2 : 0;
  if (dims == 0 || weight.size() != input.size() || groups < 1) {
    fail(
        "conv_flops - input [N, C, spatial...] and weight of the same rank, "
        "groups >= 1: {{input rank {}, weight rank {}, groups {}}}",
        input.size(),
        weight.size(),
        groups);
  }
  // ATen expands a one-element stride / padding / dilation to every dim.
  auto at = [](const std::vector<int64_t>& v, size_t i, int64_t dflt) {
    return v.empty() ? dflt : v.size() == 1 ? v[0] : v.at(i);
  };
  double macs = static_cast<double>(input[0]);
  if (!transposed) {
    // weight [C_out, C_in / groups, k...]
    macs *= static_cast<double>(weight[0]) * static_cast<double>(weight[1]);
    for (size_t i = 0; i < dims; ++i) {
      const int64_t k = weight[2 + i];
      const int64_t out =
          (input[2 + i] + 2 * at(padding, i, 0) - at(dilation, i, 1) * (k - 1) -
           1) / at(stride, i, 1) +
          1;
      macs *= static_cast<double>(std::max<int64_t>(out, 0)) *
          static_cast<double>(k);
    }
  } else {
    // weight [C_in, C_out / groups, k...]: every input pixel scatters into
    // a k-window of C_out / groups channels.
    macs *= static_cast<double>(weight[0]) * static_cast<double>(weight[1]);
    for (size_t i = 0; i < dims; ++i) {
      macs *= static_cast<double>(input[2 + i]) *
          static_cast<double>(weight[2 + i]);
    }
  }
  return 2.0 * macs;
}

namespace {

std::mutex g_mutex;
FlopCounts g_counts;
std::atomic<bool> g_active{false};

// Integer list of an operator input (int[] or concrete SymInt[]); false if
// it is neither.
bool int_list(const c10::IValue& v, std::vector<int64_t>* out) {
  out->clear();
  if (v.isIntList()) {
    *out = v.toIntVector();
    return true;
  }
  if (v.isNone()) {
    return true;
  }
  if (v.isList()) {
    for (const auto& e : v.toListRef()) {
      if (!e.isInt()) {
        return false;
      }
      out->push_back(e.toInt());
    }
    return true;
  }
  return false;
}

std::vector<int64_t> sizes_of(const c10::IValue& v) {
  if (!v.isTensor()) {
    return {};
  }
  const auto s = v.toTensor().sizes();
  return {s.begin(), s.end()};
}

// Forward FLOPs of a convolution whose (input, weight, bias, stride,
// padding, dilation, transposed, output_padding, groups) start at `first`.
bool conv_from(
    c10::ArrayRef<const c10::IValue> in,
    size_t x,
    size_t w,
    size_t stride,
    double* flops) {
  std::vector<int64_t> s, p, d;
  if (in.size() < stride + 6 || !int_list(in[stride], &s) ||
      !int_list(in[stride + 1], &p) || !int_list(in[stride + 2], &d) ||
      !in[stride + 3].isBool() || !in[stride + 5].isInt()) {
    return false;
  }
  const auto xs = sizes_of(in[x]);
  const auto ws = sizes_of(in[w]);
  if (xs.size() < 3 || ws.size() != xs.size()) {
    return false;
  }
  *flops = conv_flops(xs, ws, s, p, d, in[stride + 3].toBool(),
                      in[stride + 5].toInt());
  return true;
}

double matmul_flops(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  // [.., M, K] x [.., K, N]
  if (a.size() < 2 || b.size() != a.size()) {
    return 0;
  }
  double f = 2.0 * static_cast<double>(a[a.size() - 2]) *
      static_cast<double>(a.back()) * static_cast<double>(b.back());
  for (size_t i = 0; i + 2 < a.size(); ++i) {
    f *= static_cast<double>(a[i]);
  }
  return f;
}

std::unique_ptr<at::ObserverContext> on_op(const at::RecordFunction& fn) {
  if (!g_active.load(std::memory_order_relaxed)) {
    return nullptr;
  }
  const char* name = fn.name();
  if (name == nullptr || std::strncmp(name, "aten::", 6) != 0) {
    return nullptr;
  }
  const char* op = name + 6;
  const auto in = fn.inputs();
  double conv_f = 0, conv_b = 0, mm = 0;
  bool counted = true;
  if (std::strcmp(op, "convolution") == 0) {
    counted = conv_from(in, 0, 1, 3, &conv_f);
  } else if (std::strcmp(op, "convolution_backward") == 0) {
    // (grad_output, input, weight, bias_sizes, stride, padding, dilation,
    //  transposed, output_padding, groups, output_mask)
    double one = 0;
    counted = conv_from(in, 1, 2, 4, &one) && in.size() >= 11 &&
        in[10].isBoolList();
    if (counted) {
      const auto mask = in[10].toBoolList();
      conv_b = one * ((mask.size() > 0 && mask.get(0) ? 1 : 0) +
                      (mask.size() > 1 && mask.get(1) ? 1 : 0));
    }
  } else if (std::strcmp(op, "mm") == 0 || std::strcmp(op, "bmm") == 0) {
    counted = in.size() >= 2;
    if (counted) {
      mm = matmul_flops(sizes_of(in[0]), sizes_of(in[1]));
    }
  } else if (std::strcmp(op, "addmm") == 0 || std::strcmp(op, "baddbmm") == 0) {
    counted = in.size() >= 3;
    if (counted) {
      mm = matmul_flops(sizes_of(in[1]), sizes_of(in[2]));
    }
  } else {
    return nullptr;
  }
  if (counted) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_counts.conv_forward += conv_f;
    g_counts.conv_backward += conv_b;
    g_counts.matmul += mm;
    ++g_counts.ops;
  }
  return nullptr;
}

}  // namespace

FlopCounter::FlopCounter() {
  if (g_active.exchange(true)) {
    fail("FlopCounter - another counter is alive in this process");
  }
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_counts = FlopCounts{};
  }
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(&on_op)
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION}));
}

FlopCounter::~FlopCounter() {
  at::removeCallback(handle_);
  g_active.store(false);
}

FlopCounts FlopCounter::counts() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_counts;
}

}  // namespace ltcl::models
