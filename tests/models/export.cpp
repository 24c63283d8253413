// models/export.h: the TorchScript model computes what Network::forward does.
#include "ltcl/models/export.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "ltcl/models/network.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::models;

class ExportTest : public ltcl::test::SeededTest {};

// Non-trivial BatchNorm statistics and affine parameters everywhere, so that
// an exported BN reading the wrong tensor (or using batch statistics) shows.
void randomise_batchnorm(NetworkImpl& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_buffers()) {
    if (p.key().find("running_mean") != std::string::npos) {
      p.value().uniform_(-0.2, 0.2);
    } else if (p.key().find("running_var") != std::string::npos) {
      p.value().uniform_(0.5, 2.0);
    }
  }
  for (auto& p : net.named_parameters()) {
    if (p.key().find("bn") != std::string::npos ||
        p.key().find("downsample.1") != std::string::npos) {
      p.value().uniform_(0.5, 1.5);
    }
  }
}

ExportOptions options_for(const NetworkImpl& net, int64_t channels, int64_t size) {
  ExportOptions o;
  for (int64_t c = 0; c < net.options.num_classes(); ++c) {
    o.class_names.push_back("class " + std::to_string(c));
  }
  o.channels = channels;
  o.height = o.width = size;
  o.mean.assign(static_cast<size_t>(channels), 0.5f);
  o.std.assign(static_cast<size_t>(channels), 0.25f);
  if (channels == 3) {
    o.mean = {0.4914f, 0.4822f, 0.4465f};
    o.std = {0.2023f, 0.1994f, 0.2010f};
  }
  o.info_json = R"({"arch":")" + net.options.arch() + R"("})";
  return o;
}

// Exports `net`, loads the file back with torch::jit::load and compares
// every method with the network's own forward on random inputs.
void check_round_trip(Network net, int64_t channels, int64_t size) {
  randomise_batchnorm(*net);
  net->eval();
  ltcl::test::TempDir dir;
  const auto path = (dir / "model.ts").string();
  const auto o = options_for(*net, channels, size);
  export_torchscript(*net, path, o);
  auto m = torch::jit::load(path);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({3, channels, size, size});
  const auto want = net->forward(x);
  auto logits = m.forward({x}).toTensor();
  auto features = m.get_method("features")({x}).toTensor();
  ASSERT_EQ(logits.sizes(), want.logits.sizes());
  // Same ATen operators in the same order: equal up to rounding.
  EXPECT_TRUE(torch::allclose(logits, want.logits, 1e-5, 1e-5))
      << (logits - want.logits).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(features, want.features, 1e-5, 1e-5));
  if (want.embeddings.defined()) {
    auto z = m.get_method("embeddings")({x}).toTensor();
    EXPECT_TRUE(torch::allclose(z, want.embeddings, 1e-5, 1e-6));
  } else {
    EXPECT_FALSE(m.find_method("embeddings").has_value());
  }
  // The recorded preprocessing: uint8 NHWC -> (v / 255 - mean) / std.
  auto images = torch::randint(0, 256, {2, size, size, channels}, torch::kUInt8);
  auto pre = m.get_method("preprocess")({images}).toTensor();
  ASSERT_EQ(pre.sizes(), (std::vector<int64_t>{2, channels, size, size}));
  for (int64_t c = 0; c < channels; ++c) {
    const float v = images[1][size - 1][0][c].item<uint8_t>();
    EXPECT_NEAR(
        pre[1][c][size - 1][0].item<float>(),
        (v / 255.0f - o.mean[c]) / o.std[c],
        1e-5);
  }
  auto names = m.attr("class_names").toList();
  ASSERT_EQ(static_cast<int64_t>(names.size()), net->options.num_classes());
  EXPECT_EQ(names.get(1).toStringRef(), "class 1");
  auto input_size = m.attr("input_size").toIntList();
  EXPECT_EQ(input_size.get(0), channels);
  EXPECT_EQ(input_size.get(2), size);
  EXPECT_EQ(m.attr("ltcl_info").toStringRef(), o.info_json);
  // Parameters keep ltcl's names, '.' -> '_'.
  bool found = false;
  for (const auto& p : m.named_parameters(/*recurse=*/false)) {
    found = found || p.name == "backbone_conv1_weight";
  }
  EXPECT_TRUE(found);
}

TEST_F(ExportTest, CifarResNetWithHeadMatchesForward) {
  check_round_trip(
      Network(NetworkOptions().arch("resnet20").num_classes(7).proj_dim(16)),
      3, 32);
}

TEST_F(ExportTest, CosineClassifierGrayInputsNoHead) {
  check_round_trip(
      Network(NetworkOptions()
                  .arch("resnet20")
                  .num_classes(4)
                  .in_channels(1)
                  .classifier("cosine")
                  .cosine_scale(16)
                  .proj_dim(0)),
      1, 28);
}

TEST_F(ExportTest, ResNeXtBottlenecksMatchForward) {
  // Grouped 3x3 convs, strided downsample branches, the max-pool stem.
  check_round_trip(
      Network(NetworkOptions()
                  .arch("resnext50_32x4d")
                  .num_classes(5)
                  .proj_hidden(32)
                  .proj_dim(8)),
      3, 64);
}

TEST_F(ExportTest, PrototypeHeadIsLeftOutAndOptionsAreChecked) {
  Network net(NetworkOptions()
                  .arch("resnet20")
                  .num_classes(3)
                  .proj_hidden(16)
                  .proj_dim(8)
                  .prototype_head(true));
  auto o = options_for(*net, 3, 32);
  const auto src = torchscript_source(*net, o);
  // BCL's head_fc (head_fc.mlp.*) is training-only.
  EXPECT_EQ(src.find("head_fc_"), std::string::npos);
  EXPECT_NE(src.find("self.head_fc1_weight"), std::string::npos);
  EXPECT_NE(src.find("def embeddings"), std::string::npos);
  ltcl::test::TempDir dir;
  o.class_names.pop_back();
  EXPECT_THROW(
      export_torchscript(*net, (dir / "m.ts").string(), o), ltcl::Error);
  o = options_for(*net, 3, 32);
  o.mean = {0.5f, 0.5f};
  EXPECT_THROW(
      export_torchscript(*net, (dir / "m.ts").string(), o), ltcl::Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "m.ts"));
}

}  // namespace
