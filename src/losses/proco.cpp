#include "ltcl/losses/proco.h"

#include <torch/torch.h>

#include <cmath>

#include "checks.h"
#include "ltcl/losses/checks.h"
#include "ltcl/losses/bessel.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// logit_ic = nu log kappa_c - log I_nu(kappa_c) - nu log kt_ic + log I_nu(kt_ic)
// with kt_ic = || a_c + z_i / tau ||, a_c = kappa_c mu_c. Backward: with
// G_ic = dL/dlogit_ic * min(I_{nu+1}(kt) / I_nu(kt), 1) and H = G / kt,
//   dL/dz_i = sum_c H_ic (a_c + z_i / tau) / tau
//           = (H a)_i / tau + z_i (sum_c H_ic) / tau^2.
class ProcoLogits : public torch::autograd::Function<ProcoLogits> {
 public:
  static torch::Tensor forward(
      AutogradContext* ctx,
      const torch::Tensor& z,
      const torch::Tensor& mu,
      const torch::Tensor& kappa,
      double tau) {
    const double nu = static_cast<double>(z.size(1)) / 2.0 - 1.0;
    const auto zd = z.detach().to(torch::kDouble);
    const auto k = kappa.detach().to(z.device(), torch::kDouble);
    const auto a = k.unsqueeze(1) * mu.detach().to(z.device(), torch::kDouble);
    // ||a_c + z_i / tau||^2, clamped at 0 against rounding.
    const auto sq = (a * a).sum(1).unsqueeze(0) +
        (2.0 / tau) * torch::mm(zd, a.t()) +
        (zd * zd).sum(1, /*keepdim=*/true) / (tau * tau);
    const auto kt = torch::sqrt(sq.clamp_min(0));
    const auto at_kt = log_bessel_i(nu, kt);
    const auto at_k = log_bessel_i(nu, k);
    const auto per_class = nu * torch::log(k) - at_k.log_i;  // log C_p + const
    auto logits = per_class.unsqueeze(0) - nu * torch::log(kt) + at_kt.log_i;
    ctx->save_for_backward({zd, a, kt, at_kt.ratio.clamp_max(1.0)});
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["dtype"] = static_cast<int64_t>(z.scalar_type());
    return logits;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const auto& zd = saved[0];
    const auto& a = saved[1];
    const auto& kt = saved[2];
    const auto& ratio = saved[3];
    const double tau = ctx->saved_data["tau"].toDouble();
    const auto dtype =
        static_cast<c10::ScalarType>(ctx->saved_data["dtype"].toInt());
    const auto h = grad[0].to(torch::kDouble) * ratio / kt;
    auto gz = torch::mm(h, a) / tau + zd * h.sum(1, /*keepdim=*/true) / (tau * tau);
    return {gz.to(dtype), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor proco_logits(
    const torch::Tensor& z,
    const torch::Tensor& mu,
    const torch::Tensor& kappa,
    double tau) {
  const char* name = "proco_logits";
  detail::check_positive(name, "tau", tau);
  if (!z.defined() || z.dim() != 2 || !z.is_floating_point() || z.size(1) < 2) {
    fail(
        "{} - z must be a floating [N, p] tensor with p >= 2: {{got {}}}",
        name,
        detail::shape(z));
  }
  if (!mu.defined() || mu.dim() != 2 || mu.size(1) != z.size(1)) {
    fail(
        "{} - mu must be [C, {}]: {{got {}}}", name, z.size(1), detail::shape(mu));
  }
  if (!kappa.defined() || kappa.dim() != 1 || kappa.size(0) != mu.size(0)) {
    fail(
        "{} - kappa must be [{}]: {{got {}}}", name, mu.size(0),
        detail::shape(kappa));
  }
  // Reads kappa back (a device sync): skipped inside a TrustedInputs scope
  // (the trainer's steps after the first).
  if (kappa.numel() > 0 && !inputs_trusted() &&
      !(torch::isfinite(kappa).all().item<bool>() &&
        (kappa > 0).all().item<bool>())) {
    fail("{} - kappa must be finite and > 0", name);
  }
  return ProcoLogits::apply(z, mu, kappa, tau);
}

torch::Tensor proco_loss(
    const torch::Tensor& z,
    const torch::Tensor& labels,
    const torch::Tensor& mu,
    const torch::Tensor& kappa,
    const torch::Tensor& class_counts,
    double tau) {
  auto logits = proco_logits(z, mu, kappa, tau);
  detail::check_logits_labels("proco_loss", logits, labels);
  detail::check_class_counts("proco_loss", class_counts, logits.size(1));
  return torch::nn::functional::cross_entropy(
      logits + detail::log_prior(class_counts, logits), labels.to(z.device()));
}

}  // namespace ltcl::losses
