// model.init (NetworkOptions::init): the weight scales each scheme gives,
// against the closed-form standard deviations: Kaiming-normal (fan_in,
// gain sqrt 2) std = sqrt(2 / fan_in); PyTorch's default for Linear / Conv
// (kaiming_uniform with a = sqrt 5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// std = 1 / sqrt(3 fan_in).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ltcl/models/network.h"
#include "support.h"

namespace {

double kaiming(int64_t fan_in) {
  return std::sqrt(2.0 / static_cast<double>(fan_in));
}
double uniform_default(int64_t fan_in) {
  return 1.0 / std::sqrt(3.0 * static_cast<double>(fan_in));
}

struct Scales {
  double conv, classifier, head_fc1, head_fc2, proto_fc1;
};

Scales scales(const std::string& init) {
  torch::manual_seed(0);
  ltcl::models::Network net(ltcl::models::NetworkOptions()
                                .arch("resnet32")
                                .num_classes(10)
                                .proj_hidden(512)
                                .proj_dim(128)
                                .prototype_head(true)
                                .init(init));
  auto p = net->named_parameters();
  auto std_of = [&](const std::string& k) {
    EXPECT_TRUE(p.contains(k)) << k;
    return p[k].std().item<double>();
  };
  return {
      std_of("backbone.layer3.4.conv2.weight"),
      std_of("linear.weight"),
      std_of("head.fc1.weight"),
      std_of("head.fc2.weight"),
      std_of("head_fc.mlp.fc1.weight")};
}

TEST(NetworkInit, EachSchemeGivesItsWeightScale) {
  // layer3 conv: 64 in x 3 x 3 = fan_in 576 (36864 weights: the sample std
  // is within ~1 % of the true one).
  const auto all = scales("ldam");
  EXPECT_NEAR(all.conv, kaiming(576), 0.02 * kaiming(576));
  EXPECT_NEAR(all.classifier, kaiming(64), 0.05 * kaiming(64));
  EXPECT_NEAR(all.head_fc1, kaiming(64), 0.02 * kaiming(64));
  EXPECT_NEAR(all.head_fc2, kaiming(512), 0.02 * kaiming(512));
  EXPECT_NEAR(all.proto_fc1, kaiming(64), 0.02 * kaiming(64));

  const auto backbone = scales("ldam_backbone");
  EXPECT_NEAR(backbone.conv, kaiming(576), 0.02 * kaiming(576));
  EXPECT_NEAR(backbone.classifier, kaiming(64), 0.05 * kaiming(64));
  EXPECT_NEAR(backbone.head_fc1, uniform_default(64), 0.02 * uniform_default(64));
  EXPECT_NEAR(backbone.head_fc2, uniform_default(512), 0.02 * uniform_default(512));
  EXPECT_NEAR(backbone.proto_fc1, uniform_default(64), 0.02 * uniform_default(64));

  const auto plain = scales("pytorch");
  EXPECT_NEAR(plain.conv, uniform_default(576), 0.02 * uniform_default(576));
  EXPECT_NEAR(plain.classifier, uniform_default(64), 0.05 * uniform_default(64));
  EXPECT_NEAR(plain.head_fc1, uniform_default(64), 0.02 * uniform_default(64));

  ltcl::test::expect_error(
      [] {
        ltcl::models::Network(ltcl::models::NetworkOptions().init("xavier"));
      },
      {"init", "xavier", "ldam_backbone"});
}

}  // namespace
