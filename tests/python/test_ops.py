"""libltcl_torch.so against plain PyTorch written here (values + gradients).

Run: /usr/bin/python3 tests/python/test_ops.py build/libltcl_torch.so
Exit 77 (skipped) when torch is not importable.
"""
import math
import sys
import unittest

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(77)

LIB = sys.argv[1] if len(sys.argv) > 1 else "build/libltcl_torch.so"


def ref_contrastive(z, y, protos, counts, tau, averaging, b, s, m_max):
    """METHODS.md section 3, the plain-PyTorch way (masks, no loops)."""
    B, V, D = z.shape
    anchors = torch.cat(torch.unbind(z, 1), 0)
    ya = y.repeat(V)
    keys, yk = anchors, ya
    if protos is not None:
        keys = torch.cat([anchors, protos], 0)
        yk = torch.cat([ya, torch.arange(protos.shape[0])])
    n, m = anchors.shape[0], keys.shape[0]
    logits = s * s * anchors @ keys.T / tau
    self_mask = torch.zeros(n, m, dtype=torch.bool)
    self_mask[torch.arange(n), torch.arange(n)] = True
    same = ya[:, None] == yk[None, :]
    pos = (same & ~self_mask).to(z.dtype)
    if b != 0:
        logits = logits + b * torch.log(counts / counts.sum())[yk][None, :]
    if m_max > 0:
        q = counts.to(z.dtype) ** -0.25
        margin = m_max * q / q.max() / tau
        logits = logits - pos * margin[ya][:, None]
    w = torch.ones_like(logits)
    if averaging:
        cnt = torch.bincount(yk, minlength=counts.numel()).to(z.dtype)[yk]
        w = 1.0 / (cnt[None, :] - same.to(z.dtype)).clamp(min=1)
    expl = torch.exp(logits) * w * (~self_mask)
    log_prob = logits - torch.log(expl.sum(1, keepdim=True))
    npos = pos.sum(1)
    per = -(pos * log_prob).sum(1) / npos.clamp(min=1)
    return per.mean()


def unit(t):
    return t / t.norm(dim=-1, keepdim=True)


class OpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.ops.load_library(LIB)
        torch.manual_seed(0)

    def check_grad(self, ours, ref, inputs):
        for t in inputs:
            t.grad = None
        ours().backward()
        got = [t.grad.clone() for t in inputs]
        for t in inputs:
            t.grad = None
        ref().backward()
        for g, t in zip(got, inputs):
            torch.testing.assert_close(g, t.grad, rtol=1e-9, atol=1e-11)

    def test_contrastive_all_settings(self):
        counts = torch.tensor([100.0, 40.0, 10.0, 3.0, 1.0], dtype=torch.float64)
        y = torch.tensor([0, 0, 1, 0, 2, 1, 3, 0])
        for V in (1, 2, 3):
            z = unit(torch.randn(8, V, 6, dtype=torch.float64)).requires_grad_()
            p = unit(torch.randn(5, 6, dtype=torch.float64)).requires_grad_()
            for use_p, avg, b, s, m in [
                (False, False, 0.0, 1.0, 0.0),  # SupCon
                (True, True, 0.0, 1.0, 0.0),  # BCL
                (False, False, 1.0, 1.5, 0.2),  # RCL standalone
                (True, True, 1.0, 1.5, 0.2),  # BCL + RCL
            ]:
                protos = p if use_p else None
                args = (z, y, protos, counts, 0.2, avg, b, s, m)

                def ours():
                    return torch.ops.ltcl.contrastive_loss(*args)

                def ref():
                    return ref_contrastive(*args)

                with self.subTest(V=V, protos=use_p, b=b):
                    torch.testing.assert_close(
                        ours(), ref(), rtol=1e-10, atol=1e-12)
                    self.check_grad(ours, ref, [z, p] if use_p else [z])

    def test_classification_losses(self):
        x = (torch.randn(9, 4, dtype=torch.float64) * 2).requires_grad_()
        y = torch.tensor([0, 1, 3, 3, 2, 0, 3, 1, 1])
        counts = torch.tensor([500, 120, 30, 4])
        cf = counts.to(torch.float64)
        w = torch.tensor([0.3, 0.7, 1.1, 1.9], dtype=torch.float64)
        q = cf ** -0.25
        delta = 0.5 * q / q.max()
        onehot = F.one_hot(y, 4).to(torch.float64)
        cases = {
            "la": (lambda: torch.ops.ltcl.logit_adjusted_cross_entropy(
                       x, y, counts, 0.8),
                   lambda: F.cross_entropy(x + 0.8 * torch.log(cf / cf.sum()), y)),
            "bs": (lambda: torch.ops.ltcl.balanced_softmax_cross_entropy(
                       x, y, counts),
                   lambda: F.cross_entropy(x + torch.log(cf), y)),
            "ldam": (lambda: torch.ops.ltcl.ldam_loss(
                         x, y, counts, 0.5, 30.0, None),
                     lambda: F.cross_entropy(30.0 * (x - onehot * delta), y)),
            "ldam_drw": (lambda: torch.ops.ltcl.ldam_loss(
                             x, y, counts, 0.5, 30.0, w),
                         lambda: F.cross_entropy(
                             30.0 * (x - onehot * delta), y, weight=w)),
            "focal": (lambda: torch.ops.ltcl.focal_loss(x, y, 2.0),
                      lambda: (-(1 - F.softmax(x, 1).gather(1, y[:, None])) ** 2
                               * F.log_softmax(x, 1).gather(1, y[:, None])).mean()),
        }
        for name, (ours, ref) in cases.items():
            with self.subTest(loss=name):
                torch.testing.assert_close(ours(), ref(), rtol=1e-10, atol=1e-12)
                self.check_grad(ours, ref, [x])

    def test_psc_loss(self):
        z = unit(torch.randn(7, 5, dtype=torch.float64)).requires_grad_()
        p = torch.randn(4, 5, dtype=torch.float64).requires_grad_()
        y = torch.tensor([0, 3, 3, 1, 0, 3, 1])

        def ours():
            return torch.ops.ltcl.psc_loss(z, y, p, 0.1)

        def ref():
            return F.cross_entropy(z @ unit(p).T / 0.1, y)

        torch.testing.assert_close(ours(), ref(), rtol=1e-10, atol=1e-12)
        self.check_grad(ours, ref, [z, p])

    def test_float32_and_hand_value(self):
        # V = 1, labels (0, 0, 1), z1 = z2 = e1, z3 = e2, tau 1:
        # 2 * log(1 + 1/e) / 3 (anchor 3 has no positive).
        z = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]])
        got = torch.ops.ltcl.contrastive_loss(
            z, torch.tensor([0, 0, 1]), None, torch.tensor([2, 1]),
            1.0, False, 0.0, 1.0, 0.0)
        self.assertAlmostEqual(got.item(), 2 * math.log1p(math.exp(-1)) / 3,
                               places=6)

    def test_proco_loss_and_log_bessel(self):
        # An independent reference: log I from scipy's exponentially scaled
        # ive (log ive + x), the logits and LA-CE written here, the gradient
        # by central differences of that reference in float64.
        try:
            from scipy.special import ive
        except ImportError:
            self.skipTest("no scipy")
        import numpy as np

        def log_i(nu, x):
            return np.log(ive(nu, x)) + x

        def ref_loss(z, y, mu, kappa, counts, tau):
            p = z.shape[1]
            nu = p / 2 - 1
            kt = np.linalg.norm(kappa[None, :, None] * mu[None] + z[:, None] / tau, axis=2)
            logits = (nu * np.log(kappa) - log_i(nu, kappa))[None] - nu * np.log(kt) + log_i(nu, kt)
            logits = logits + np.log(counts / counts.sum())[None]
            m = logits.max(1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(logits - m).sum(1))
            return float(np.mean(lse - logits[np.arange(len(y)), y]))

        torch.manual_seed(3)
        z = unit(torch.randn(6, 32, dtype=torch.float64)).requires_grad_()
        mu = unit(torch.randn(3, 32, dtype=torch.float64))
        kappa = torch.tensor([4.0, 30.0, 250.0], dtype=torch.float64)
        y = torch.tensor([0, 0, 1, 2, 0, 1])
        counts = torch.tensor([50.0, 10.0, 2.0], dtype=torch.float64)
        loss = torch.ops.ltcl.proco_loss(z, y, mu, kappa, counts, 0.1)
        args = (mu.numpy(), kappa.numpy(), counts.numpy(), 0.1)
        zn = z.detach().numpy().copy()
        want = ref_loss(zn, y.numpy(), *args)
        self.assertAlmostEqual(loss.item(), want, places=10)
        loss.backward()
        h = 1e-6
        for i, d in [(0, 0), (2, 5), (3, 31), (5, 17)]:
            up, down = zn.copy(), zn.copy()
            up[i, d] += h
            down[i, d] -= h
            fd = (ref_loss(up, y.numpy(), *args) - ref_loss(down, y.numpy(), *args)) / (2 * h)
            self.assertAlmostEqual(z.grad[i, d].item(), fd, places=6)
        # log I and the ratio against scipy.
        # (where scipy's ive does not underflow: I_511(40) ~ 1e-480)
        for nu, xs in [(511.0, [402.5, 900.0, 3000.0, 20000.0]), (15.0, [0.5, 40.0, 1000.0])]:
            x = torch.tensor(xs, dtype=torch.float64)
            li, r = torch.ops.ltcl.log_bessel_i(nu, x)
            xs = x.numpy()
            np.testing.assert_allclose(li.numpy(), log_i(nu, xs), rtol=1e-10)
            np.testing.assert_allclose(r.numpy(), ive(nu + 1, xs) / ive(nu, xs), rtol=1e-10)

    def test_paco_loss(self):
        # An independent reference written here from METHODS.md section 10
        # (the GPaCo layout: both views anchors, the contrast set the batch
        # and a queue; PaCo's layout differs only in the inputs), in float64
        # with plain torch ops; gradients by autograd through it.
        def ref(g, a, y, f, fy, self_idx, alpha, tau):
            n, m = a.shape[0], f.shape[0]
            s = a @ f.T / tau
            keep = torch.ones(n, m, dtype=torch.bool)
            for i in range(n):
                if self_idx[i] >= 0:
                    keep[i, self_idx[i]] = False
            logits = torch.cat([g, s], 1)
            logits = logits - logits.max(1, keepdim=True).values.detach()
            e = torch.exp(logits) * torch.cat([torch.ones_like(g), keep.double()], 1)
            log_p = logits - torch.log(e.sum(1, keepdim=True))
            w = torch.cat([torch.nn.functional.one_hot(y, g.shape[1]).double(),
                           alpha * ((y[:, None] == fy[None]) & keep).double()], 1)
            return (-(w * log_p).sum(1) / w.sum(1)).mean()

        torch.manual_seed(5)
        y = torch.tensor([0, 1, 2, 0, 0, 3])
        yy = torch.cat([y, y])
        queue = unit(torch.randn(5, 8, dtype=torch.float64))
        qy = torch.tensor([0, 0, 3, 1, 2])
        for dtype, tol in [(torch.float64, 1e-12), (torch.float32, 1e-6)]:
            z = unit(torch.randn(12, 8, dtype=torch.float64)).to(dtype).requires_grad_()
            g = torch.randn(12, 4, dtype=dtype, requires_grad=True)
            f = torch.cat([z, queue.to(dtype)])
            fy = torch.cat([yy, qy])
            self_idx = torch.arange(12)
            loss = torch.ops.ltcl.paco_loss(g, z, yy, f, fy, self_idx, 0.3, 0.2)
            loss.backward()
            z64 = z.detach().double().requires_grad_()
            g64 = g.detach().double().requires_grad_()
            want = ref(g64, z64, yy, torch.cat([z64, queue]), fy, self_idx, 0.3, 0.2)
            want.backward()
            self.assertAlmostEqual(loss.item(), want.item(), delta=tol * max(1.0, abs(want.item())))
            torch.testing.assert_close(z.grad.double(), z64.grad, rtol=tol * 10, atol=tol * 10)
            torch.testing.assert_close(g.grad.double(), g64.grad, rtol=tol * 10, atol=tol * 10)
        with self.assertRaisesRegex(RuntimeError, "tau"):
            torch.ops.ltcl.paco_loss(g, z, yy, f, fy, self_idx, 0.3, 0.0)

    def test_bad_arguments_raise(self):
        z = unit(torch.randn(4, 2, 6))
        y = torch.tensor([0, 1, 2, 3])
        counts = torch.tensor([5, 4, 3, 2])
        with self.assertRaisesRegex(RuntimeError, r"\[3\]"):
            torch.ops.ltcl.contrastive_loss(
                z, y[:3], None, counts, 0.1, False, 0.0, 1.0, 0.0)
        with self.assertRaisesRegex(RuntimeError, "temperature"):
            torch.ops.ltcl.contrastive_loss(
                z, y, None, counts, 0.0, False, 0.0, 1.0, 0.0)
        with self.assertRaisesRegex(RuntimeError, "min 0"):
            torch.ops.ltcl.balanced_softmax_cross_entropy(
                torch.randn(4, 4), y, torch.tensor([5, 0, 3, 2]))
        with self.assertRaisesRegex(RuntimeError, "labels"):
            torch.ops.ltcl.focal_loss(torch.randn(4, 3), y, 2.0)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
