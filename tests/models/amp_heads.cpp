// Under train.amp's autocast the Network's backbone runs in bf16 while the
// classifier and projection head run in float32 (models::Network::forward):
// the logits and embeddings equal the float32 heads applied to the
// features, bit for bit, and the caller's autocast state is left as it was.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ltcl/models/network.h"
#include "ltcl/util/autocast.h"
#include "support.h"

namespace {

ltcl::models::Network small_net(const std::string& classifier) {
  torch::manual_seed(0);
  ltcl::models::Network net(ltcl::models::NetworkOptions()
                                .arch("resnet20")
                                .num_classes(7)
                                .classifier(classifier)
                                .proj_hidden(16)
                                .proj_dim(8));
  net->eval();
  return net;
}

// The network's forward inside CPU autocast (bf16), as Precision::forward
// runs it; autocast is still on when fn returns.
ltcl::models::NetworkOutput bf16_forward(
    ltcl::models::Network& net, const torch::Tensor& x, bool* still_on) {
  ltcl::util::set_autocast_dtype(c10::DeviceType::CPU, at::kBFloat16);
  ltcl::util::set_autocast_enabled(c10::DeviceType::CPU, true);
  at::autocast::increment_nesting();
  auto out = net->forward(x);
  *still_on = ltcl::util::autocast_enabled(c10::DeviceType::CPU);
  at::autocast::decrement_nesting();
  at::autocast::clear_cache();
  ltcl::util::set_autocast_enabled(c10::DeviceType::CPU, false);
  ltcl::util::set_autocast_dtype(c10::DeviceType::CPU, at::kBFloat16);
  return out;
}

TEST(AmpHeads, LinearAndProjectionHeadRunInFloat32UnderBf16Autocast) {
  auto net = small_net("linear");
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({6, 3, 32, 32});
  bool still_on = false;
  const auto out = bf16_forward(net, x, &still_on);
  EXPECT_TRUE(still_on) << "the caller's autocast must stay on";
  EXPECT_FALSE(ltcl::util::autocast_enabled(c10::DeviceType::CPU));
  ASSERT_EQ(out.features.scalar_type(), at::kFloat);
  ASSERT_EQ(out.logits.scalar_type(), at::kFloat);
  ASSERT_EQ(out.embeddings.scalar_type(), at::kFloat);
  // The backbone did run in bf16: its features are bf16 values.
  EXPECT_TRUE(torch::equal(
      out.features, out.features.to(at::kBFloat16).to(at::kFloat)));
  // The heads on those features in float32, outside autocast.
  auto* lin = net->linear.get();
  const auto want_logits =
      torch::nn::functional::linear(out.features, lin->weight, lin->bias);
  EXPECT_TRUE(torch::equal(out.logits, want_logits));
  EXPECT_TRUE(torch::equal(out.embeddings, net->head->forward(out.features)));
  // ...which bf16 logits would not be (8 significant bits).
  EXPECT_FALSE(torch::equal(
      out.logits, out.logits.to(at::kBFloat16).to(at::kFloat)));
}

TEST(AmpHeads, CosineClassifierInFloat32AndFloat32PathUnchanged) {
  auto net = small_net("cosine");
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, 3, 32, 32});
  bool still_on = false;
  const auto out = bf16_forward(net, x, &still_on);
  ASSERT_EQ(out.logits.scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::equal(out.logits, net->cosine->forward(out.features)));
  // Without autocast: float32 throughout, the heads on the features.
  const auto plain = net->forward(x);
  ASSERT_EQ(plain.logits.scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::equal(plain.logits, net->cosine->forward(plain.features)));
  EXPECT_FALSE(ltcl::util::autocast_enabled(c10::DeviceType::CPU));
}

}  // namespace
