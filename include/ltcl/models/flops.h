#pragma once
// Floating-point operations actually executed, counted from the operators
// that run (ATen's RecordFunction observer), for `ltcl bench peak`'s
// achieved-GFLOP/s figure (docs/training.md, "Speed against the silicon").
//
// Counted, one multiply-add = 2 FLOPs, every process thread:
// - aten::convolution (forward): 2 N C_out H_out W_out (C_in / groups) kH kW
//   (transposed: 2 N C_in H_in W_in (C_out / groups) kH kW);
// - aten::convolution_backward: the forward's count once for the input
//   gradient and once for the weight gradient, each only when asked for
//   (output_mask; a network's first layer needs no input gradient);
// - aten::mm / addmm: 2 M K N; aten::bmm / baddbmm: 2 B M K N.
// Not counted: bias additions, BatchNorm, activations, pooling, the losses'
// elementwise work, the optimizer (together a few % of a ResNet step; the
// GEMM-class work above is what the peak is measured on).
#include <cstdint>
#include <vector>

namespace ltcl::models {

struct FlopCounts {
  double conv_forward = 0;
  double conv_backward = 0;
  double matmul = 0;  // mm / addmm / bmm / baddbmm, forward and backward
  int64_t ops = 0;    // operators counted
  double total() const { return conv_forward + conv_backward + matmul; }
};

// Forward FLOPs of one convolution from its shapes (the formula above).
// input [N, C_in, spatial...], weight [C_out, C_in / groups, k...] (not
// transposed) or [C_in, C_out / groups, k...] (transposed).
double conv_flops(
    const std::vector<int64_t>& input,
    const std::vector<int64_t>& weight,
    const std::vector<int64_t>& stride,
    const std::vector<int64_t>& padding,
    const std::vector<int64_t>& dilation,
    bool transposed,
    int64_t groups);

// Counts while alive. One at a time per process (a second throws
// ltcl::Error). The observer copies every operator's inputs, so steps run
// slower while one is alive: count one step, time others.
class FlopCounter {
 public:
  FlopCounter();
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;
  FlopCounts counts() const;

 private:
  uint64_t handle_ = 0;
};

}  // namespace ltcl::models
