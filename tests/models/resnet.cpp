// ResNet-32 family (CIFAR) and ResNet-50 / ResNeXt-50 (torchvision layout).
#include "ltcl/models/resnet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "ltcl/models/resnet_cifar.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::models;

class ResNetTest : public ltcl::test::SeededTest {};

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) {
    n += p.numel();
  }
  return n;
}

TEST_F(ResNetTest, Resnet32ParameterCountIsHandDerived) {
  // Hand count (option-A shortcuts have no parameters; BN = 2 per channel):
  //   stem   conv 3*16*9 = 432, bn 32                              =    464
  //   stage1 5 blocks x (2 * 16*16*9 + 2*32)                        =  23360
  //   stage2 (16*32*9 + 32*32*9 + 2*64) + 4 x (2*32*32*9 + 2*64)    =  88192
  //   stage3 (32*64*9 + 64*64*9 + 2*128) + 4 x (2*64*64*9 + 2*128)  = 351488
  //   backbone total                                                = 463504
  // + fc 64*100 + 100 = 6500 -> 470004 (the "0.46M" of LDAM-DRW);
  // + fc 64*10 + 10 = 650 -> 464154.
  ResNetCifar net;
  EXPECT_EQ(count_parameters(*net), 463504);
  EXPECT_EQ(
      count_parameters(*net) + count_parameters(*torch::nn::Linear(64, 100)),
      470004);
  EXPECT_EQ(
      count_parameters(*net) + count_parameters(*torch::nn::Linear(64, 10)),
      464154);
  // resnet20: 3 blocks per stage, same per-block counts as above.
  const int64_t r20 =
      464 + 3 * 4672 + (13952 + 2 * 18560) + (55552 + 2 * 73984);
  EXPECT_EQ(
      count_parameters(*ResNetCifar(ResNetCifarOptions().depth(20))), r20);
  // One input channel: the stem conv loses 2*16*9 weights.
  EXPECT_EQ(
      count_parameters(*ResNetCifar(ResNetCifarOptions().in_channels(1))),
      463504 - 2 * 16 * 9);
}

TEST_F(ResNetTest, Resnet32ShapesForwardBackward) {
  ResNetCifar net;
  auto x = torch::randn({4, 3, 32, 32});
  auto f = net->forward(x);
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{4, 64}));
  f.sum().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>());
  }
  // Features come after a ReLU and an average pool: non-negative.
  EXPECT_GE(f.min().item<float>(), 0.0f);
}

TEST_F(ResNetTest, Resnet32TakesMnistSizedInput) {
  ResNetCifar net(ResNetCifarOptions().in_channels(1));
  net->eval();
  auto f = net->forward(torch::randn({2, 1, 28, 28}));
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 64}));
}

TEST_F(ResNetTest, OptionAShortcutSubsamplesAndZeroPads) {
  // A block whose convs output zero passes relu(shortcut) through: check
  // the shortcut is x[:, :, ::2, ::2] with 8 zero channels on each side.
  BasicBlockCifar block(16, 32, 2);
  {
    torch::NoGradGuard g;
    block->bn2->weight.zero_();
    block->bn2->bias.zero_();
  }
  block->eval();
  auto x = torch::rand({1, 16, 8, 8});
  auto y = block->forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 32, 4, 4}));
  for (int64_t c = 0; c < 32; ++c) {
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < 4; ++j) {
        float want =
            (c >= 8 && c < 24) ? x[0][c - 8][2 * i][2 * j].item<float>() : 0.0f;
        ASSERT_FLOAT_EQ(y[0][c][i][j].item<float>(), want) << c;
      }
    }
  }
}

TEST_F(ResNetTest, BadOptionsThrow) {
  EXPECT_THROW(ResNetCifar(ResNetCifarOptions().depth(33)), ltcl::Error);
  EXPECT_THROW(ResNetCifar(ResNetCifarOptions().in_channels(0)), ltcl::Error);
  ResNetCifar net;
  ltcl::test::expect_error(
      [&] {
        net->forward(torch::randn({2, 1, 32, 32}));
      },
      {"[2, 1, 32, 32]"});
  EXPECT_THROW(ResNet(ResNetOptions().layers({3, 4})), ltcl::Error);
}

TEST_F(ResNetTest, Resnet50ForwardShapes) {
  ResNet net(resnet50_options(7));
  net->eval();
  torch::NoGradGuard g;
  EXPECT_EQ(
      net->forward(torch::randn({1, 3, 64, 64})).sizes(),
      (std::vector<int64_t>{1, 7}));
  ResNet trunk(resnext50_32x4d_options(0));
  trunk->eval();
  EXPECT_EQ(
      trunk->forward(torch::randn({1, 3, 64, 64})).sizes(),
      (std::vector<int64_t>{1, 2048}));
}

// "P name d0,d1,..." / "B name ..." lines in registration order.
std::string describe(torch::nn::Module& m) {
  std::ostringstream out;
  auto shape = [](const torch::Tensor& t) {
    std::string s;
    for (auto d : t.sizes()) {
      s += (s.empty() ? "" : ",") + std::to_string(d);
    }
    return s;
  };
  for (const auto& p : m.named_parameters()) {
    out << "P " << p.key() << " " << shape(p.value()) << "\n";
  }
  for (const auto& b : m.named_buffers()) {
    out << "B " << b.key() << " " << shape(b.value()) << "\n";
  }
  return out.str();
}

std::string torchvision_names(const std::string& arch) {
  const std::string script =
      "import sys\n"
      "try:\n"
      "  import torchvision.models as tm\n"
      "except Exception:\n"
      "  sys.exit(77)\n"
      "m = getattr(tm, sys.argv[1])()\n"
      "for n, p in m.named_parameters():\n"
      "  print('P', n, ','.join(str(d) for d in p.shape))\n"
      "for n, b in m.named_buffers():\n"
      "  print('B', n, ','.join(str(d) for d in b.shape))\n";
  ltcl::test::TempDir dir;
  auto path = dir / "names.py";
  {
    std::ofstream f(path);
    f << script;
  }
  std::string out;
  int rc = ltcl::test::run_command(
      "/usr/bin/python3 " + path.string() + " " + arch, &out);
  if (rc != 0) {
    return "";
  }
  return out;
}

void expect_torchvision_layout(const std::string& arch, ResNet net) {
  if (!std::filesystem::exists("/usr/bin/python3")) {
    GTEST_SKIP() << "/usr/bin/python3 not found";
  }
  auto want = torchvision_names(arch);
  if (want.empty()) {
    GTEST_SKIP() << "torchvision not available to /usr/bin/python3";
  }
  auto got = describe(*net);
  EXPECT_EQ(got, want);
  // 161 parameters + 3 * 53 BN buffers in both.
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 161 + 159);
}

TEST_F(ResNetTest, Resnet50MatchesTorchvisionNames) {
  expect_torchvision_layout("resnet50", ResNet(resnet50_options()));
}

TEST_F(ResNetTest, Resnext50MatchesTorchvisionNames) {
  expect_torchvision_layout(
      "resnext50_32x4d", ResNet(resnext50_32x4d_options()));
}

TEST_F(ResNetTest, Resnet50ParameterCount) {
  // Published sizes (torchvision docs): 25,557,032 and 25,028,904.
  EXPECT_EQ(count_parameters(*ResNet(resnet50_options())), 25557032);
  EXPECT_EQ(count_parameters(*ResNet(resnext50_32x4d_options())), 25028904);
  // ResNet-152 (Places-LT's backbone): 60,192,808.
  EXPECT_EQ(count_parameters(*ResNet(resnet152_options())), 60192808);
}

}  // namespace
