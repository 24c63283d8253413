#!/usr/bin/env python3
"""ltcl's PaCo / GPaCo and ProCo losses against the official code, run as an
external program (issue 27: "equal to their official code").

  /usr/bin/python3 bench/official_losses.py --lib build/libltcl_torch.so \
      --official DIR

DIR holds the official loss files, unmodified, from the public repositories
(nothing of them is copied into ltcl), e.g.
  git -C <snapshot of dvlab-research/Parametric-Contrastive-Learning> archive HEAD \
      PaCo/LT/losses.py GPaCo/LT/losses.py | tar -x -C DIR
  git -C <snapshot of LeapLabTHU/ProCo> archive HEAD ProCo/loss | tar -x -C DIR
The official files call .cuda() unconditionally: as scripts/reproduce/
official_on_cpu.py, this script makes .cuda() a no-op and
torch.cuda.FloatTensor the CPU one; nothing else is changed.

1. PaCo (PaCo/LT/losses.py: anchors q, contrast [q ; k ; queue]) and GPaCo
   (GPaCo/LT/losses.py: anchors [q ; k]) on random long-tailed batches,
   float64: loss and gradients into the anchors / keys and the centre logits
   against torch.ops.ltcl.paco_loss with the same layout. The official
   weights are float32 (one_hot(...).to(float32), the label mask .float()):
   alpha is rounded to float32 for ltcl too, and the official sum of the
   weights per anchor, mask.sum(1), is taken in float32, so the two agree
   to float32's rounding of that sum (relative ~1e-7), not to float64's.
2. ProCo (ProCo/loss/proco.py: the estimator's kappa and log C_p from the
   official Miller recurrence, the logits with its LogRatioC gradient, then
   LogitAdjust's cross-entropy, as its main.py) against
   torch.ops.ltcl.proco_loss, for p = 32, 128, 1024 and mean resultant
   lengths R from 0.3 to 0.999 (kappa = p R / (1 - R^2)): where they differ,
   the official recurrence does (docs/losses.md; log I against scipy here).
Prints tables; exit 1 if PaCo / GPaCo differ by more than 2.5e-7 relative
(loss) or 1e-7 (gradients).
"""
import argparse
import importlib.util
import math
import os
import sys

import torch

torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self
torch.cuda.FloatTensor = torch.FloatTensor


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def unit(t):
    return t / t.norm(dim=-1, keepdim=True)


def paco_check(official, layout, seed):
    """One random long-tailed batch; returns (loss diff, grad diffs)."""
    g = torch.Generator().manual_seed(seed)
    C, B, K, D = 10, 16, 32, 8
    counts = torch.tensor([500, 300, 180, 110, 65, 40, 24, 15, 9, 5], dtype=torch.float64)
    y = torch.multinomial(counts / counts.sum(), B, replacement=True, generator=g)
    qy = torch.randint(0, C, (K,), generator=g)
    q = unit(torch.randn(B, D, generator=g, dtype=torch.float64)).requires_grad_()
    k = unit(torch.randn(B, D, generator=g, dtype=torch.float64)).requires_grad_()
    queue = unit(torch.randn(K, D, generator=g, dtype=torch.float64))
    n = B if layout == "paco" else 2 * B
    sup = torch.randn(n, C, generator=g, dtype=torch.float64).requires_grad_()
    alpha, tau = 0.05, 0.2
    features = torch.cat([q, k, queue])
    labels = torch.cat([y, y, qy])
    crit = official.PaCoLoss(alpha=alpha, temperature=tau, K=K, num_classes=C)
    crit.weight = (counts / counts.sum()).view(1, C)  # cal_weight_for_classes, on the CPU
    want = crit(features, labels, sup)
    gw = torch.autograd.grad(want, [q, k, sup])
    anchors = q if layout == "paco" else torch.cat([q, k])
    alab = y if layout == "paco" else torch.cat([y, y])
    centre = sup + torch.log(counts / counts.sum() + 1e-9)
    # The official weights are float32 (one_hot(...).to(float32) times
    # alpha): alpha rounded to float32 here, the one difference in the inputs.
    alpha32 = float(torch.tensor(alpha, dtype=torch.float32))
    got = torch.ops.ltcl.paco_loss(centre, anchors, alab, features, labels,
                                   torch.arange(n), alpha32, tau)
    gg = torch.autograd.grad(got, [q, k, sup])
    return (abs(got.item() - want.item()) / abs(want.item()),
            max((a - b).abs().max().item() for a, b in zip(gg, gw)), want.item())


def proco_rows(official):
    from scipy.special import ive
    rows = []
    for p in (32, 128, 1024):
        for R in (0.3, 0.6, 0.9, 0.97, 0.99, 0.999):
            torch.manual_seed(p)
            C, N, tau = 10, 64, 0.1
            counts = [500, 300, 180, 110, 65, 40, 24, 15, 9, 5]
            crit = official.ProCoLoss(contrast_dim=p, temperature=tau, num_classes=C)
            crit.cal_weight_for_classes(counts)
            mu = unit(torch.randn(C, p, dtype=torch.float64))
            crit.estimator_old.Ave = (mu * R).float()
            crit.estimator_old.update_kappa()
            kappa = crit.estimator_old.kappa.double()
            y = torch.multinomial(torch.tensor(counts, dtype=torch.float64), N, replacement=True)
            z = unit(torch.randn(N, p, dtype=torch.float64))
            zo = z.clone().float().requires_grad_()
            logits = crit(zo, None)
            la = official.LogitAdjust(counts)
            want = la(logits, y)
            (gw,) = torch.autograd.grad(want, [zo])
            zl = z.clone().requires_grad_()
            mu_l = unit(crit.estimator_old.Ave.double())
            got = torch.ops.ltcl.proco_loss(zl, y, mu_l, kappa,
                                            torch.tensor(counts, dtype=torch.float64), tau)
            (gg,) = torch.autograd.grad(got, [zl])
            # log C_p(kappa) as the official estimator keeps it, against scipy.
            nu = p / 2 - 1
            kc = kappa.numpy()
            ref = (torch.from_numpy(ive(nu, kc)).log() + kappa - nu * kappa.log())
            logc_err = (crit.estimator_old.logc.double() - ref).abs()
            logc_err = logc_err[torch.isfinite(ref)].max().item() if torch.isfinite(ref).any() else float("nan")
            kt = (kappa[None, :, None] * mu_l[None] + z[:, None] / tau).norm(dim=2)
            rows.append((p, R, kappa.mean().item(), kt.max().item(), want.item(), got.item(),
                         abs(want.item() - got.item()), (gg - gw.double()).abs().max().item(),
                         logc_err))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default="build/libltcl_torch.so")
    ap.add_argument("--official", required=True)
    args = ap.parse_args()
    torch.ops.load_library(args.lib)
    torch.set_num_threads(1)
    bad = False
    print("| layout | seed | official loss | relative diff (loss) | max abs diff (gradients) |")
    print("|---|---|---|---|---|")
    for layout, path in (("paco", "PaCo/LT/losses.py"), ("gpaco", "GPaCo/LT/losses.py")):
        mod = load(os.path.join(args.official, path), layout + "_official")
        for seed in range(5):
            dl, dg, v = paco_check(mod, layout, seed)
            bad |= not (dl < 2.5e-7 and dg < 1e-7)
            print(f"| {layout} | {seed} | {v:.6f} | {dl:.1e} | {dg:.1e} |")
    proco = os.path.join(args.official, "ProCo/loss/proco.py")
    if os.path.exists(proco):
        import torch.distributed as dist
        if not dist.is_initialized():
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", "29517")
            dist.init_process_group("gloo", rank=0, world_size=1)
        sys.modules.setdefault("loss", type(sys)("loss"))
        official = load(proco, "proco_official")
        official.LogitAdjust = load(os.path.join(args.official, "ProCo/loss/logitadjust.py"),
                                    "la_official").LogitAdjust
        print()
        print("| p | R | mean kappa | max kappa~ | official loss | ltcl loss | abs diff | max abs diff (grad z) | official log C_p(kappa) vs scipy |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in proco_rows(official):
            print("| {} | {} | {:.4g} | {:.4g} | {:.6f} | {:.6f} | {:.1e} | {:.1e} | {:.1e} |".format(*r))
    print("official_losses:", "FAIL" if bad else
          "PaCo / GPaCo equal to float32's rounding of the official weight sums")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
