// models::FlopCounter and conv_flops against hand-computed counts: the
// convolution formula (stride, padding, dilation, groups, transposed), a
// conv + linear forward and backward (which gradients are asked for), and
// ResNet-32's forward on one 32 x 32 image from its layer table.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ltcl/models/flops.h"
#include "ltcl/models/resnet_cifar.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::models::conv_flops;
using ltcl::models::FlopCounter;

TEST(ConvFlops, HandComputed) {
  // 2 images, 3 -> 4 channels, 3x3, 8x8 kept (padding 1): 2 * 2*4*3*9*64.
  EXPECT_DOUBLE_EQ(
      conv_flops({2, 3, 8, 8}, {4, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, false, 1),
      2.0 * 2 * 4 * 3 * 9 * 64);
  // Stride 2: (8 + 2 - 2 - 1) / 2 + 1 = 4 -> 4x4 outputs; one-element lists
  // apply to both dims.
  EXPECT_DOUBLE_EQ(
      conv_flops({2, 3, 8, 8}, {4, 3, 3, 3}, {2}, {1}, {1}, false, 1),
      2.0 * 2 * 4 * 3 * 9 * 16);
  // No padding, dilation 2: effective kernel 5, 8 - 5 + 1 = 4.
  EXPECT_DOUBLE_EQ(
      conv_flops({1, 3, 8, 8}, {4, 3, 3, 3}, {1}, {0}, {2}, false, 1),
      2.0 * 4 * 3 * 9 * 16);
  // Groups 2: 4 -> 6 channels, each output sees 2 input channels.
  EXPECT_DOUBLE_EQ(
      conv_flops({1, 4, 5, 5}, {6, 2, 1, 1}, {1}, {0}, {1}, false, 2),
      2.0 * 6 * 2 * 25);
  // Transposed, weight [C_in 3, C_out 4, 2, 2]: every input pixel of every
  // input channel scatters into 4 * 2 * 2 outputs.
  EXPECT_DOUBLE_EQ(
      conv_flops({1, 3, 5, 5}, {3, 4, 2, 2}, {2}, {0}, {1}, true, 1),
      2.0 * 3 * 25 * 4 * 4);
  EXPECT_THROW(
      conv_flops({1, 3}, {4, 3}, {1}, {0}, {1}, false, 1), ltcl::Error);
}

TEST(FlopCounter, ConvAndLinearForwardAndBackward) {
  torch::manual_seed(0);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).padding(1));
  torch::nn::Linear fc(4 * 8 * 8, 5);
  const double conv_f = 2.0 * 2 * 4 * 3 * 9 * 64;
  const double fc_f = 2.0 * 2 * 256 * 5;  // [2, 256] x [256, 5]
  for (bool input_grad : {false, true}) {
    auto x = torch::randn({2, 3, 8, 8}).requires_grad_(input_grad);
    FlopCounter counter;
    auto y = fc->forward(conv->forward(x).flatten(1));
    y.sum().backward();
    const auto c = counter.counts();
    EXPECT_DOUBLE_EQ(c.conv_forward, conv_f);
    // The weight gradient always; the input gradient only when x needs it.
    EXPECT_DOUBLE_EQ(c.conv_backward, conv_f * (input_grad ? 2 : 1));
    // Forward addmm, then the input and weight gradients of the linear
    // layer: three products of the same size.
    EXPECT_DOUBLE_EQ(c.matmul, 3 * fc_f) << "input_grad " << input_grad;
  }
}

TEST(FlopCounter, CountsOnlyWhileAliveAndOneAtATime) {
  auto a = torch::randn({4, 6});
  auto b = torch::randn({6, 5});
  double during = 0;
  {
    FlopCounter counter;
    EXPECT_THROW(FlopCounter second, ltcl::Error);
    (void)torch::mm(a, b);
    (void)torch::bmm(a.unsqueeze(0).repeat({3, 1, 1}),
                     b.unsqueeze(0).repeat({3, 1, 1}));
    during = counter.counts().matmul;
  }
  EXPECT_DOUBLE_EQ(during, 2.0 * 4 * 6 * 5 * (1 + 3));
  (void)torch::mm(a, b);
  FlopCounter fresh;  // starts at zero, the earlier one is gone
  EXPECT_DOUBLE_EQ(fresh.counts().total(), 0.0);
}

TEST(FlopCounter, ResNet32ForwardFromItsLayerTable) {
  // conv1 3->16 at 32x32; stage s (16, 32, 64 channels at 32, 16, 8
  // pixels): 5 blocks of two 3x3 convs, the first of stages 2 and 3 with
  // stride 2 from the previous width. Option-A shortcuts have no conv.
  auto conv = [](double cin, double cout, double hw) {
    return 2.0 * cin * cout * 9 * hw * hw;
  };
  double want = conv(3, 16, 32);
  const double ch[] = {16, 32, 64}, px[] = {32, 16, 8};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 10; ++i) {
      const double cin = (s > 0 && i == 0) ? ch[s - 1] : ch[s];
      want += conv(cin, ch[s], px[s]);
    }
  }
  EXPECT_DOUBLE_EQ(want, 137723904.0);  // 0.138 GFLOP, the figure quoted
  ltcl::models::ResNetCifar net(ltcl::models::ResNetCifarOptions().depth(32));
  net->eval();
  torch::NoGradGuard no_grad;
  FlopCounter counter;
  (void)net->forward(torch::randn({1, 3, 32, 32}));
  EXPECT_DOUBLE_EQ(counter.counts().conv_forward, want);
  EXPECT_DOUBLE_EQ(counter.counts().conv_backward, 0.0);
}

}  // namespace
