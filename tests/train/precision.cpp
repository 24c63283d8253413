// train::Precision: bf16 autocast really runs the forward in bf16 (outputs
// differ from float32 by bf16 rounding only) and hands float32 outputs and
// unit embeddings back with autocast off again; channels_last changes the
// weights' layout, not the outputs; fp16 on a CPU is an error naming
// train.amp. "auto" resolves by device and CPU (the table below), and the
// CPU probe agrees with the kernel's /proc/cpuinfo flags.
#include "ltcl/train/precision.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <string>

#include "ltcl/models/network.h"
#include "ltcl/util/error.h"
#include "ltcl/util/autocast.h"
#include "scoped_env.h"
#include "support.h"

namespace {

using ltcl::train::Precision;
using ltcl::train::resolve_precision;

using ltcl::test::ScopedEnv;

ltcl::models::Network tiny_network() {
  torch::manual_seed(0);
  ltcl::models::Network net(ltcl::models::NetworkOptions()
                                .arch("resnet20")
                                .num_classes(10)
                                .in_channels(1)
                                .proj_hidden(16)
                                .proj_dim(8));
  net->eval();  // batch statistics would not change the point; keep BN fixed
  return net;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(Precision, Fp16OnCpuIsAnErrorNamingTheKey) {
  try {
    Precision p("fp16", false, torch::kCPU);
    FAIL() << "no error";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.amp"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos);
  }
  EXPECT_THROW(Precision("fp8", false, torch::kCPU), ltcl::Error);
}

TEST(Precision, Bf16ForwardReturnsFloat32CloseToFloat32) {
  auto net = tiny_network();
  auto x = torch::randn({6, 1, 16, 16});
  auto ref = net->forward(x);
  Precision p("bf16", false, torch::kCPU);
  auto out = p.forward(*net, x);
  EXPECT_FALSE(ltcl::util::autocast_enabled(c10::DeviceType::CPU));
  for (const auto* t : {&out.features, &out.logits, &out.embeddings}) {
    EXPECT_EQ(t->scalar_type(), torch::kFloat);
  }
  // bf16 keeps 8 bits of mantissa (relative rounding 2^-9 per operation):
  // through 20 layers the logits move, but only by a few percent.
  const double scale = ref.logits.abs().max().item<double>();
  const double d = max_abs_diff(out.logits, ref.logits);
  EXPECT_GT(d, 0.0) << "autocast did not run";
  EXPECT_LT(d, 0.1 * scale) << d << " of " << scale;
  EXPECT_TRUE(
      torch::allclose(out.embeddings.norm(2, 1), torch::ones({6}), 1e-5, 1e-5));
  // Gradients reach the float32 weights as float32.
  net->zero_grad();
  out.logits.sum().backward();
  for (const auto& prm : net->parameters()) {
    EXPECT_EQ(prm.scalar_type(), torch::kFloat);
  }
  auto g = net->parameters().front().grad();
  ASSERT_TRUE(g.defined());
  EXPECT_EQ(g.scalar_type(), torch::kFloat);
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
}

TEST(Precision, NoneIsThePlainForward) {
  auto net = tiny_network();
  auto x = torch::randn({4, 1, 16, 16});
  auto ref = net->forward(x);
  auto out = Precision("none", false, torch::kCPU).forward(*net, x);
  EXPECT_TRUE(torch::equal(out.logits, ref.logits));
  EXPECT_TRUE(torch::equal(out.embeddings, ref.embeddings));
}

TEST(Precision, ChannelsLastChangesLayoutNotOutputs) {
  auto net = tiny_network();
  auto x = torch::randn({4, 1, 16, 16});
  auto ref = net->forward(x);
  Precision p("none", true, torch::kCPU);
  p.prepare(*net);
  int n4 = 0;
  for (const auto& prm : net->parameters()) {
    if (prm.dim() == 4) {
      ++n4;
      EXPECT_TRUE(prm.is_contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  EXPECT_EQ(n4, 19);  // the convolutions of a ResNet-20 (option A)
  EXPECT_TRUE(p.input(x).is_contiguous(at::MemoryFormat::ChannelsLast));
  auto out = p.forward(*net, x);
  EXPECT_LT(max_abs_diff(out.logits, ref.logits), 1e-4);
  EXPECT_LT(max_abs_diff(out.embeddings, ref.embeddings), 1e-5);
}

struct AutoCase {
  const char* amp;
  const char* channels_last;
  bool cuda;
  bool cpu_bf16;
  const char* want_amp;
  bool want_channels_last;
};

TEST(ResolvePrecision, AutoByDeviceAndCpuExplicitPassesThrough) {
  const c10::Device cpu(torch::kCPU);
  const c10::Device cuda(torch::kCUDA, 0);  // a name only: no GPU needed
  const AutoCase cases[] = {
      // auto: bf16 + channels-last only on a CPU with AVX-512 BF16.
      // channels_last auto: on for a CPU (float32 too), off on CUDA.
      {"auto", "auto", false, true, "bf16", true},
      {"auto", "auto", false, false, "none", true},
      {"auto", "auto", true, true, "none", false},
      {"auto", "auto", true, false, "none", false},
      {"bf16", "auto", false, false, "bf16", true},
      {"bf16", "auto", true, true, "bf16", false},
      {"none", "auto", false, true, "none", true},
      {"none", "auto", false, false, "none", true},
      {"fp16", "auto", true, false, "fp16", false},
      // Explicit values win over the CPU.
      {"none", "false", false, true, "none", false},
      {"none", "true", false, false, "none", true},
      {"bf16", "false", false, true, "bf16", false},
      {"auto", "true", false, false, "none", true},
      {"auto", "false", false, true, "bf16", false},
  };
  for (const auto& c : cases) {
    auto p = resolve_precision(
        c.amp, c.channels_last, c.cuda ? cuda : cpu, c.cpu_bf16);
    const std::string where = std::string(c.amp) + " / " + c.channels_last +
        (c.cuda ? " cuda" : " cpu") + (c.cpu_bf16 ? " bf16" : "");
    EXPECT_EQ(p.amp, c.want_amp) << where;
    EXPECT_EQ(p.channels_last, c.want_channels_last) << where;
  }
}

TEST(ResolvePrecision, UnknownValuesNameTheKey) {
  const c10::Device cpu(torch::kCPU);
  try {
    resolve_precision("bfloat16", "auto", cpu, true);
    FAIL() << "no error";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.amp"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("'bfloat16'"), std::string::npos);
  }
  try {
    resolve_precision("auto", "yes", cpu, true);
    FAIL() << "no error";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.channels_last"),
              std::string::npos)
        << e.what();
  }
}

// The probe against the kernel's own reading of CPUID (x86-64 Linux).
TEST(ResolvePrecision, CpuProbeAgreesWithProcCpuinfo) {
#if defined(__x86_64__) && defined(__linux__)
  std::ifstream in("/proc/cpuinfo");
  if (!in) {
    GTEST_SKIP() << "no /proc/cpuinfo";
  }
  std::string line;
  bool flags_seen = false;
  bool has = false;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) {
      continue;
    }
    flags_seen = true;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) {
      has = has || w == "avx512_bf16";
    }
    break;  // the first processor's flags
  }
  ASSERT_TRUE(flags_seen);
  EXPECT_EQ(ltcl::train::cpu_has_avx512_bf16(), has);
#else
  EXPECT_FALSE(ltcl::train::cpu_has_avx512_bf16());
#endif
}

TEST(ResolvePrecision, EnvironmentOverridesTheProbe) {
  {
    ScopedEnv env("LTCL_CPU_BF16", "1");
    EXPECT_TRUE(ltcl::train::auto_cpu_bf16());
  }
  {
    ScopedEnv env("LTCL_CPU_BF16", "0");
    EXPECT_FALSE(ltcl::train::auto_cpu_bf16());
  }
  {
    ScopedEnv env("LTCL_CPU_BF16", nullptr);
    EXPECT_EQ(ltcl::train::auto_cpu_bf16(), ltcl::train::cpu_has_avx512_bf16());
  }
  ScopedEnv env("LTCL_CPU_BF16", "yes");
  try {
    ltcl::train::auto_cpu_bf16();
    FAIL() << "no error";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("LTCL_CPU_BF16"), std::string::npos)
        << e.what();
  }
}

}  // namespace
