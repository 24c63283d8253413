"""ltcl.losses: every module's value and gradients equal (1) the raw
operator torch.ops.ltcl.* called positionally (bit for bit) and (2) an
independent plain-PyTorch reference written here from METHODS.md, to 1e-12
in float64 and 1e-6 in float32 (the float32 result against the reference
computed in float64 from the same inputs). Plus the argument errors.

Run with the python of an environment where ltcl is installed:
    v/bin/python -m unittest discover -s tests/python/package -v
"""
import math
import unittest

import torch
import torch.nn.functional as F

import ltcl
from ltcl import losses as L

TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12),
       torch.float32: dict(rtol=1e-6, atol=1e-6)}


def unit(t):
    return t / t.norm(dim=-1, keepdim=True)


# --------------------------------------------------------------------------
# Independent references (loops over anchors; written from METHODS.md)
# --------------------------------------------------------------------------

def ref_contrastive(z, y, protos, counts, tau, averaging, b, s, m_max):
    B, V, D = z.shape
    anchors = torch.cat([z[:, v] for v in range(V)], 0)      # view-major
    ya = y.repeat(V)
    keys, yk = anchors, ya
    if protos is not None:
        C = protos.shape[0]
        keys = torch.cat([anchors, protos.to(z.dtype)], 0)
        yk = torch.cat([ya, torch.arange(C)])
    if counts is not None:
        n = torch.as_tensor(counts, dtype=torch.float64)
        log_pi = torch.log(n / n.sum()).to(z.dtype)
        q = n.pow(-0.25)
        margin = (m_max * q / q.max() / tau).to(z.dtype)
    total = z.new_zeros(())
    N = anchors.shape[0]
    for i in range(N):
        others = [k for k in range(keys.shape[0]) if k != i]
        ks = torch.tensor(others)
        same = yk[ks] == ya[i]
        logit = s * s * (keys[ks] @ anchors[i]) / tau
        if b != 0:
            logit = logit + b * log_pi[yk[ks]]
        if m_max > 0:
            logit = logit - same.to(z.dtype) * margin[ya[i]]
        if averaging:
            cnt = torch.stack([(yk == yk[k]).sum() for k in others])
            w = 1.0 / (cnt - same.long()).to(z.dtype)
            log_d = torch.logsumexp(logit + torch.log(w), 0)
        else:
            log_d = torch.logsumexp(logit, 0)
        if bool(same.any()):
            total = total - (logit[same] - log_d).mean()
    return total / N


def ref_la(x, y, counts, tau):
    n = torch.as_tensor(counts, dtype=torch.float64)
    return F.cross_entropy(x + tau * torch.log(n / n.sum()).to(x.dtype), y)


def ref_bs(x, y, counts):
    return F.cross_entropy(
        x + torch.log(torch.as_tensor(counts, dtype=torch.float64)).to(x.dtype), y)


def ref_ldam(x, y, counts, max_margin, s, weight):
    q = torch.as_tensor(counts, dtype=torch.float64).pow(-0.25)
    delta = (max_margin * q / q.max()).to(x.dtype)
    onehot = F.one_hot(y, x.shape[1]).to(x.dtype)
    return F.cross_entropy(s * (x - delta[y][:, None] * onehot), y,
                           weight=None if weight is None else weight.to(x.dtype))


def ref_focal(x, y, gamma):
    logp = torch.log_softmax(x, 1).gather(1, y[:, None])[:, 0]
    return (-(1 - logp.exp()) ** gamma * logp).mean()


def ref_psc(z, y, protos, tau):
    return F.cross_entropy(z @ unit(protos).T / tau, y)


def ref_paco(g, a, y, f, fy, self_index, alpha, tau):
    losses = []
    for i in range(a.shape[0]):
        cols = [j for j in range(f.shape[0]) if j != int(self_index[i])]
        s = f[cols] @ a[i] / tau
        row = torch.cat([g[i], s])
        row = row - row.max().detach()
        log_d = torch.logsumexp(row, 0)
        w = torch.zeros_like(row)
        w[int(y[i])] = 1.0
        same = (fy[cols] == y[i]).to(row.dtype)
        w = torch.cat([w[:g.shape[1]], alpha * same])
        losses.append(-(w * (row - log_d)).sum() / w.sum())
    return torch.stack(losses).mean()


class _LogI(torch.autograd.Function):
    """log I_nu(x) with mpmath (40 digits), d/dx = I_{nu+1}/I_nu + nu/x."""

    @staticmethod
    def forward(ctx, x, nu):
        import mpmath
        mpmath.mp.dps = 40
        xs = x.detach().reshape(-1).tolist()
        out = [float(mpmath.log(mpmath.besseli(nu, mpmath.mpf(v)))) for v in xs]
        d = [float(mpmath.besseli(nu + 1, mpmath.mpf(v)) /
                   mpmath.besseli(nu, mpmath.mpf(v)) + nu / mpmath.mpf(v))
             for v in xs]
        ctx.save_for_backward(torch.tensor(d, dtype=x.dtype).reshape(x.shape))
        return torch.tensor(out, dtype=x.dtype).reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        return grad * d, None


def ref_proco(z, y, mu, kappa, counts, tau):
    z = z.double() if z.dtype != torch.float64 else z
    p = z.shape[1]
    nu = p / 2 - 1
    kt = (kappa[None, :, None] * mu[None] + z[:, None] / tau).norm(dim=2)
    logits = (nu * torch.log(kappa) - _LogI.apply(kappa, nu))[None] \
        - nu * torch.log(kt) + _LogI.apply(kt, nu)
    n = torch.as_tensor(counts, dtype=torch.float64)
    return F.cross_entropy(logits + torch.log(n / n.sum()), y)


# --------------------------------------------------------------------------



def ref_cb_weights(counts, beta):
    e = [(1 - beta ** n) / (1 - beta) for n in counts]
    m = sum(e) / len(e)
    return [m / x for x in e]


def ref_rescom(z, y, keys, valid, weights, tau, k_pos, k_neg):
    """Loops over the V*B anchors: batch logits, then the mined queue keys."""
    b, v, d = z.shape
    c, q, _ = keys.shape
    anchors = z.transpose(0, 1).reshape(b * v, d)
    ya = y.repeat(v)
    total = 0
    for i in range(b * v):
        logits, pos = [], []
        for k in range(b * v):
            if k == i:
                continue
            logits.append(anchors[i] @ anchors[k] / tau)
            pos.append(bool(ya[k] == ya[i]))
        own = [(float(anchors[i] @ keys[ya[i], j]), j) for j in range(q) if valid[ya[i], j]]
        own.sort()
        for _, j in own[:k_pos]:
            logits.append(anchors[i] @ keys[ya[i], j] / tau)
            pos.append(True)
        other = [(float(anchors[i] @ keys[cc, j]), cc, j) for cc in range(c)
                 for j in range(q) if valid[cc, j] and cc != int(ya[i])]
        other.sort(key=lambda t: -t[0])
        for _, cc, j in other[:k_neg]:
            logits.append(anchors[i] @ keys[cc, j] / tau)
            pos.append(False)
        lg = torch.stack(logits)
        lsm = lg - torch.logsumexp(lg, 0)
        npos = sum(pos)
        if npos:
            li = -sum(lsm[j] for j in range(len(pos)) if pos[j]) / npos
            total = total + (weights[int(ya[i])] if weights is not None else 1.0) * li
    return total / (b * v)


class LossTest(unittest.TestCase):

    def setUp(self):
        torch.manual_seed(0)

    def check(self, module_call, op_call, ref_call, leaves, dtype, ref_in_64=True):
        """Module == op bit for bit (value and grads); module == reference
        to TOL[dtype] (value and grads); the reference runs in float64."""
        def run(fn, xs):
            for t in xs:
                t.grad = None
            v = fn(*xs)
            v.backward()
            return v.detach(), [t.grad.clone() for t in xs]

        v_mod, g_mod = run(module_call, leaves)
        v_op, g_op = run(op_call, leaves)
        self.assertEqual(v_mod.dtype, v_op.dtype)
        self.assertTrue(torch.equal(v_mod, v_op), (v_mod, v_op))
        for a, b in zip(g_mod, g_op):
            self.assertTrue(torch.equal(a, b))
        leaves64 = [t.detach().double().requires_grad_() for t in leaves]
        v_ref, g_ref = run(ref_call, leaves64)
        torch.testing.assert_close(v_mod.double(), v_ref, **TOL[dtype])
        for a, b in zip(g_mod, g_ref):
            torch.testing.assert_close(a.double(), b, **TOL[dtype])
        self.assertTrue(math.isfinite(float(v_mod)))
        return float(v_mod)

    def test_contrastive_presets_and_switches(self):
        counts = [100, 40, 10, 3, 1]
        y = torch.tensor([0, 0, 1, 0, 2, 1, 3, 0])
        presets = {
            "SupCon": (L.SupCon(), None, dict(averaging=False, b=0.0, s=1.0, m=0.0)),
            "SupCon+counts": (L.SupCon(counts, temperature=0.2), None,
                              dict(averaging=False, b=0.0, s=1.0, m=0.0, tau=0.2)),
            "BCL": (L.BCL(counts), "p", dict(averaging=True, b=0.0, s=1.0, m=0.0)),
            "RCL": (L.RCL(counts), None, dict(averaging=False, b=1.0, s=1.5, m=0.1)),
            "BCLRCL": (L.BCLRCL(counts), "p", dict(averaging=True, b=1.0, s=1.5, m=0.1)),
            "core": (L.ContrastiveLoss(counts, temperature=0.3, class_averaging=True,
                                       balance=0.5, feature_scale=2.0, margin_max=0.2),
                     None, dict(averaging=True, b=0.5, s=2.0, m=0.2, tau=0.3)),
            "RCL without balance": (L.RCL(counts, balance=0.0), None,
                                    dict(averaging=False, b=0.0, s=1.5, m=0.1)),
        }
        for dtype in (torch.float64, torch.float32):
            for V in (1, 2):
                for name, (mod, use_p, o) in presets.items():
                    tau = o.get("tau", 0.1)
                    z = unit(torch.randn(8, V, 6, dtype=dtype)).requires_grad_()
                    p = unit(torch.randn(5, 6, dtype=dtype)).requires_grad_()
                    leaves = [z, p] if use_p else [z]
                    cnt = None if name == "SupCon" else counts
                    with self.subTest(dtype=dtype, V=V, preset=name):
                        self.assertEqual(mod.temperature, tau)
                        self.check(
                            lambda *t: mod(t[0], y, t[1] if use_p else None),
                            lambda *t: torch.ops.ltcl.contrastive_loss(
                                t[0], y, t[1] if use_p else None,
                                torch.tensor(counts if cnt else [], dtype=torch.int64),
                                tau, o["averaging"], o["b"], o["s"], o["m"]),
                            lambda *t: ref_contrastive(
                                t[0], y, t[1] if use_p else None, cnt, tau,
                                o["averaging"], o["b"], o["s"], o["m"]),
                            leaves, dtype)

    def test_contrastive_defaults_match_methods_md(self):
        r = L.RCL([5, 1])
        self.assertEqual((r.temperature, r.balance, r.feature_scale, r.margin_max),
                         (0.1, 1.0, 1.5, 0.1))
        b = L.BCL([5, 1])
        self.assertTrue(b.class_averaging and b.class_complement)
        self.assertEqual((b.balance, b.feature_scale, b.margin_max), (0.0, 1.0, 0.0))
        s = L.SupCon()
        self.assertFalse(s.class_averaging or s.class_complement)
        self.assertEqual(L.LogitAdjustedLoss([3, 1]).tau, 1.0)
        ld = L.LDAMLoss([3, 1])
        self.assertEqual((ld.max_margin, ld.scale), (0.5, 30.0))
        self.assertEqual(L.FocalLoss().gamma, 2.0)
        self.assertEqual(L.PSCLoss().temperature, 0.1)
        self.assertEqual(L.ProCoLoss([3, 1]).tau, 0.1)
        pc = L.PaCoLoss()
        self.assertEqual((pc.alpha, pc.tau), (0.05, 0.2))

    def test_hand_value(self):
        # V = 1, labels (0, 0, 1), z1 = z2 = e1, z3 = e2, tau 1: anchors 1
        # and 2 each have loss log(1 + e^0 / e^1) = log(1 + 1/e); anchor 3
        # has no positive -> 2 log(1 + 1/e) / 3.
        z = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)
        got = L.SupCon(temperature=1.0)(z, torch.tensor([0, 0, 1]))
        self.assertAlmostEqual(float(got), 2 * math.log(1 + math.exp(-1)) / 3, places=14)

    def test_classification(self):
        counts = [500, 120, 30, 4]
        y = torch.tensor([0, 1, 3, 3, 2, 0, 3, 1, 1])
        w = L.drw_weights(counts)
        for dtype in (torch.float64, torch.float32):
            x = (torch.randn(9, 4, dtype=dtype) * 2).requires_grad_()
            cases = [
                ("LA", L.LogitAdjustedLoss(counts),
                 lambda t: torch.ops.ltcl.logit_adjusted_cross_entropy(t, y, torch.tensor(counts), 1.0),
                 lambda t: ref_la(t, y, counts, 1.0)),
                ("LA tau 0.5", L.LogitAdjustedLoss(counts, tau=0.5),
                 lambda t: torch.ops.ltcl.logit_adjusted_cross_entropy(t, y, torch.tensor(counts), 0.5),
                 lambda t: ref_la(t, y, counts, 0.5)),
                ("BS", L.BalancedSoftmaxLoss(counts),
                 lambda t: torch.ops.ltcl.balanced_softmax_cross_entropy(t, y, torch.tensor(counts)),
                 lambda t: ref_bs(t, y, counts)),
                ("LDAM", L.LDAMLoss(counts),
                 lambda t: torch.ops.ltcl.ldam_loss(t, y, torch.tensor(counts), 0.5, 30.0, None),
                 lambda t: ref_ldam(t, y, counts, 0.5, 30.0, None)),
                ("LDAM-DRW", L.LDAMLoss(counts, max_margin=0.3, scale=10.0, weight=w),
                 lambda t: torch.ops.ltcl.ldam_loss(t, y, torch.tensor(counts), 0.3, 10.0, w),
                 lambda t: ref_ldam(t, y, counts, 0.3, 10.0, w)),
                ("focal", L.FocalLoss(),
                 lambda t: torch.ops.ltcl.focal_loss(t, y, 2.0),
                 lambda t: ref_focal(t, y, 2.0)),
                ("focal 1", L.FocalLoss(gamma=1.0),
                 lambda t: torch.ops.ltcl.focal_loss(t, y, 1.0),
                 lambda t: ref_focal(t, y, 1.0)),
            ]
            for name, mod, op, ref in cases:
                with self.subTest(dtype=dtype, loss=name):
                    self.check(lambda t: mod(t, y), op, ref, [x], dtype)

    def test_drw_weights(self):
        counts = [500, 120, 30, 4]
        w = L.drw_weights(counts)
        e = [(1 - 0.9999) / (1 - 0.9999 ** n) for n in counts]
        e = [v * 4 / sum(e) for v in e]
        self.assertEqual(w.dtype, torch.float32)
        torch.testing.assert_close(w.double(), torch.tensor(e, dtype=torch.float64),
                                   rtol=1e-7, atol=0)
        self.assertAlmostEqual(float(w.double().sum()), 4.0, places=5)
        torch.testing.assert_close(L.drw_weights(counts, beta=0.0), torch.ones(4))
        with self.assertRaisesRegex(ValueError, "beta"):
            L.drw_weights(counts, beta=1.0)
        ld = L.LDAMLoss(counts)
        ld.weight = w
        self.assertIn("weight", ld.state_dict())
        with self.assertRaisesRegex(ValueError, r"weight must be .*\[C\].*C = len\(class_counts\) = 4.*\[3\]"):
            ld.weight = torch.ones(3)
        ld.weight = None
        self.assertIsNone(ld.weight)

    def test_psc(self):
        y = torch.tensor([0, 3, 3, 1, 0, 3, 1])
        for dtype in (torch.float64, torch.float32):
            z = unit(torch.randn(7, 5, dtype=dtype)).requires_grad_()
            p = torch.randn(4, 5, dtype=dtype).requires_grad_()
            for tau in (0.1, 1.0):
                mod = L.PSCLoss(temperature=tau)
                with self.subTest(dtype=dtype, tau=tau):
                    self.check(lambda a, b: mod(a, y, b),
                               lambda a, b: torch.ops.ltcl.psc_loss(a, y, b, tau),
                               lambda a, b: ref_psc(a, y, b, tau), [z, p], dtype)

    def test_paco(self):
        torch.manual_seed(5)
        y = torch.tensor([0, 2, 2, 1, 0, 2])
        fy = torch.cat([y, torch.tensor([1, 2, 0, 0])])
        self_index = torch.tensor([0, 1, 2, 3, 4, -1])
        for dtype in (torch.float64, torch.float32):
            g = torch.randn(6, 3, dtype=dtype).requires_grad_()
            a = unit(torch.randn(6, 8, dtype=dtype)).requires_grad_()
            f = unit(torch.randn(10, 8, dtype=dtype)).requires_grad_()
            mod = L.PaCoLoss(alpha=0.05, tau=0.2)
            with self.subTest(dtype=dtype, layout="explicit contrast"):
                self.check(lambda g_, a_, f_: mod(g_, a_, y, f_, fy, self_index),
                           lambda g_, a_, f_: torch.ops.ltcl.paco_loss(
                               g_, a_, y, f_, fy, self_index, 0.05, 0.2),
                           lambda g_, a_, f_: ref_paco(g_, a_, y, f_, fy, self_index, 0.05, 0.2),
                           [g, a, f], dtype)
            mod2 = L.PaCoLoss(alpha=0.5, tau=0.1)
            idx = torch.arange(6)
            with self.subTest(dtype=dtype, layout="anchors as contrast"):
                self.check(lambda g_, a_: mod2(g_, a_, y),
                           lambda g_, a_: torch.ops.ltcl.paco_loss(g_, a_, y, a_, y, idx, 0.5, 0.1),
                           lambda g_, a_: ref_paco(g_, a_, y, a_, y, idx, 0.5, 0.1),
                           [g, a], dtype)

    def test_proco(self):
        try:
            import mpmath  # noqa: F401
        except ImportError:
            self.skipTest("mpmath absent: the ProCo reference needs it "
                          "(Debian: python3-mpmath; pip install mpmath)")
        torch.manual_seed(3)
        counts = [50, 10, 2]
        y = torch.tensor([0, 0, 1, 2, 0, 1])
        mu = unit(torch.randn(3, 16, dtype=torch.float64))
        kappa = torch.tensor([4.0, 30.0, 250.0], dtype=torch.float64)
        mod = L.ProCoLoss(counts)
        for dtype in (torch.float64, torch.float32):
            z = unit(torch.randn(6, 16, dtype=dtype)).requires_grad_()
            with self.subTest(dtype=dtype):
                self.check(lambda t: mod(t, y, mu, kappa),
                           lambda t: torch.ops.ltcl.proco_loss(t, y, mu, kappa,
                                                               torch.tensor(counts), 0.1),
                           lambda t: ref_proco(t, y, mu, kappa, counts, 0.1),
                           [z], torch.float64 if dtype == torch.float64 else torch.float32)

    def test_rescom(self):
        counts = [60, 20, 6, 2]
        torch.manual_seed(11)
        y = torch.tensor([0, 1, 0, 2, 3, 0])
        keys64 = unit(torch.randn(4, 3, 5, dtype=torch.float64))
        valid = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=torch.bool)
        w = ref_cb_weights(counts, 0.999)
        torch.testing.assert_close(L.class_balanced_weights(counts, 0.999).double(),
                                   torch.tensor(w, dtype=torch.float64), rtol=1e-6, atol=0)
        for dtype in (torch.float64, torch.float32):
            z = unit(torch.randn(6, 2, 5, dtype=dtype)).requires_grad_()
            for k_pos, k_neg, weighted in ((1, 400, True), (2, 3, False), (0, 1, True)):
                mod = L.ResComLoss(counts, temperature=0.3, k_pos=k_pos, k_neg=k_neg,
                                   per_class=3, beta=0.999, weighted=weighted)
                q = L.ClassBalancedQueue(4, 5, 3).to(dtype)
                q.keys.copy_(keys64.to(dtype))
                q.count.copy_(valid.sum(1))
                mod.queue = q
                cw = mod.class_weights
                with self.subTest(dtype=dtype, k_pos=k_pos, k_neg=k_neg, weighted=weighted):
                    self.check(lambda a: mod(a, y),
                               lambda a: torch.ops.ltcl.rescom_loss(
                                   a, y, q.keys, q.valid_mask(), cw, 0.3, k_pos, k_neg),
                               # the weights as the module holds them
                               # (float32; checked against the formula above)
                               lambda a: ref_rescom(a, y, keys64, valid,
                                                    cw.double().tolist() if weighted else None,
                                                    0.3, k_pos, k_neg),
                               [z], dtype)

    def test_queues_equal_one_at_a_time_fifos(self):
        torch.manual_seed(3)
        # ClassBalancedQueue: per class, slot ptr, ptr + 1 ... mod Q.
        q = L.ClassBalancedQueue(3, 2, 4)
        keys = torch.zeros(3, 4, 2)
        ptr, count = [0, 0, 0], [0, 0, 0]
        for b in (5, 9, 1, 12):
            z = torch.randn(b, 2)
            y = torch.randint(0, 3, (b,))
            q.enqueue(z, y)
            for i in range(b):
                c = int(y[i])
                keys[c, ptr[c]] = z[i]
                ptr[c] = (ptr[c] + 1) % 4
                count[c] = min(count[c] + 1, 4)
            self.assertTrue(torch.equal(q.keys, keys))
            self.assertEqual(q.ptr.tolist(), ptr)
            self.assertEqual(q.count.tolist(), count)
        # LabeledQueue: entry pos, pos + 1 ... mod K.
        lq = L.LabeledQueue(5, 2, 4, seed=1)
        self.assertTrue(torch.allclose(lq.keys.norm(dim=0), torch.ones(2)))
        k_ref, y_ref, pos = lq.keys.clone(), lq.labels.clone(), 0
        for b in (3, 3, 7, 0, 1):
            k = torch.randn(b, 2)
            y = torch.randint(0, 4, (b,))
            lq.enqueue(k, y)
            for i in range(b):
                k_ref[pos], y_ref[pos] = k[i], y[i]
                pos = (pos + 1) % 5
            self.assertTrue(torch.equal(lq.keys, k_ref))
            self.assertTrue(torch.equal(lq.labels, y_ref))
            self.assertEqual(int(lq.position), pos)
        # Both in state_dict, and back.
        sd = lq.state_dict()
        self.assertEqual(sorted(sd), ["keys", "labels", "position"])
        other = L.LabeledQueue(5, 2, 4, seed=2)
        other.load_state_dict(sd)
        self.assertTrue(torch.equal(other.keys, lq.keys))
        self.assertEqual(sorted(q.state_dict()), ["count", "keys", "ptr"])
        with self.assertRaisesRegex(ValueError, r"\[0, 4\)"):
            lq.enqueue(torch.zeros(1, 2), torch.tensor([4]))
        with self.assertRaisesRegex(ValueError, r"\[B, 2\]"):
            q.enqueue(torch.zeros(1, 3), torch.tensor([0]))

    def test_vmf_estimator(self):
        """Ave is the plain mean of every sample seen since the reset (the
        running weights telescope), old spans two epochs, kappa by hand."""
        torch.manual_seed(2)
        est = L.VmfEstimator(3, 4, generator=torch.Generator().manual_seed(1))
        self.assertTrue(torch.allclose(est.cur_ave.norm(dim=1), torch.full((3,), 0.9)))
        seen0, seen1 = [], []
        y1 = torch.tensor([0, 0, 2, 1, 0])
        z1 = unit(torch.randn(5, 4))
        est.start_epoch()  # epoch 0: old = the initial draw, current reset
        est.update(z1, y1)
        seen0.append((z1, y1))
        est.start_epoch()  # epoch 1: old <- epoch 0's
        y2 = torch.tensor([0, 2, 2])
        z2 = unit(torch.randn(3, 4))
        est.update(z2, y2)
        seen1.append((z2, y2))
        for c in range(3):
            old = torch.cat([z[y == c] for z, y in seen0 + seen1])
            cur = torch.cat([z[y == c] for z, y in seen1] or [torch.zeros(0, 4)])
            torch.testing.assert_close(est.old_ave[c], old.mean(0), rtol=1e-6, atol=1e-6)
            self.assertEqual(float(est.old_amount[c]), float(len(old)))
            if len(cur):
                torch.testing.assert_close(est.cur_ave[c], cur.mean(0), rtol=1e-6, atol=1e-6)
            else:  # class 1 not seen this epoch: the reset draw stays
                self.assertAlmostEqual(float(est.cur_ave[c].norm()), 0.9, places=6)
        r = est.old_ave.norm(dim=1).double()
        k = 4 * r / (1 - r * r)  # class 1: one sample, R = 1: capped
        k[(k > 1e5) | (k < 0)] = 1e5
        self.assertEqual(float(k[1]), 1e5)
        torch.testing.assert_close(est.kappa().double(), k, rtol=1e-5, atol=0)
        torch.testing.assert_close(est.mu().norm(dim=1), torch.ones(3))
        # A class whose samples cancel: R ~ 0, kappa ~ 0; R -> 1: capped at 1e5.
        e2 = L.VmfEstimator(2, 2)
        e2.start_epoch()
        e2.start_epoch()
        e2.update(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]),
                  torch.tensor([0, 0, 1, 1]))
        k = e2.kappa()
        self.assertLess(float(k[0]), 1e-5)
        self.assertEqual(float(k[1]), 1e5)
        self.assertEqual(sorted(est.state_dict()),
                         ["cur_amount", "cur_ave", "old_amount", "old_ave"])
        # Feeds ProCoLoss.
        loss = L.ProCoLoss([5, 3, 2])(z2.double(), y2, est.mu().double(), est.kappa().double())
        self.assertTrue(math.isfinite(float(loss)))

    def test_buffers_move_and_save(self):
        m = L.BCLRCL([10, 5, 1])
        self.assertEqual(m.class_counts.dtype, torch.int64)
        self.assertEqual(m.class_counts.tolist(), [10, 5, 1])
        sd = m.state_dict()
        self.assertEqual(sd["class_counts"].tolist(), [10, 5, 1])
        m2 = L.BCLRCL([1, 1, 1])
        m2.load_state_dict(sd)
        self.assertEqual(m2.class_counts.tolist(), [10, 5, 1])
        self.assertEqual(m.to(torch.float64).class_counts.dtype, torch.int64)
        self.assertIn("num_classes=3", repr(m))
        # counts from numpy / tensors / floats that are whole numbers
        import numpy as np
        self.assertEqual(L.LogitAdjustedLoss(np.array([3, 2])).class_counts.tolist(), [3, 2])
        self.assertEqual(L.LogitAdjustedLoss(torch.tensor([3.0, 2.0])).class_counts.tolist(), [3, 2])

    def test_errors_name_argument_and_shape(self):
        counts = [10, 5, 1]
        z = unit(torch.randn(4, 2, 6))
        y = torch.tensor([0, 1, 2, 0])
        p = unit(torch.randn(3, 6))
        bad = [
            (lambda: L.BCL(counts)(z[:, 0], y, p), r"BCL - features must be .*\[B, V, D\].*float32\[4, 6\]"),
            (lambda: L.BCL(counts)(z, y), r"BCL - class_complement is on: forward needs prototypes \[C, D\] \(C = 3, D = 6\)"),
            (lambda: L.BCL(counts)(z, y, p[:2]), r"prototypes must be \[C, D\] with C = len\(class_counts\) = 3 .*float32\[2, 6\]"),
            (lambda: L.SupCon()(z, y, p), r"SupCon - prototypes given but class_complement is off"),
            (lambda: L.SupCon()(z, y[:3]), r"SupCon - labels must be an integer tensor \[N\] with N = features.size\(0\) = 4: \{got labels int64\[3\]\}"),
            (lambda: L.SupCon()(z, y.float()), r"labels must be an integer tensor"),
            (lambda: L.RCL(None), r"RCL - class_counts is required with balance, margin_max"),
            (lambda: L.BCL(None), r"class_counts is required with class_complement"),
            (lambda: L.SupCon(temperature=0), r"SupCon - temperature must be > 0: \{got 0.0\}"),
            (lambda: L.RCL(counts, feature_scale=-1), r"feature_scale must be > 0"),
            (lambda: L.RCL(counts, margin_max=-0.1), r"margin_max must be >= 0"),
            (lambda: L.LogitAdjustedLoss([3, 0, 2]), r"LogitAdjustedLoss - every class count must be > 0.*got 0 in class 1 of class_counts int64\[3\]"),
            (lambda: L.LogitAdjustedLoss([[3, 2]]), r"class_counts must be \[C\] with C >= 1: \{got int64\[1, 2\]\}"),
            (lambda: L.LogitAdjustedLoss([2.5, 1]), r"whole numbers"),
            (lambda: L.LogitAdjustedLoss(None), r"LogitAdjustedLoss - class_counts is required"),
            (lambda: L.LogitAdjustedLoss(counts)(torch.randn(4, 4), y), r"logits must be \[N, C\] with C = len\(class_counts\) = 3: \{got logits float32\[4, 4\]\}"),
            (lambda: L.FocalLoss()(torch.randn(4), y), r"FocalLoss - logits must be a floating tensor \[N, C\]: \{got float32\[4\]\}"),
            (lambda: L.FocalLoss(gamma=-1), r"gamma must be >= 0"),
            (lambda: L.LDAMLoss(counts, scale=0), r"LDAMLoss - scale must be > 0"),
            (lambda: L.PSCLoss()(z[:, 0], y, p[:, :5]), r"PSCLoss - prototypes must be \[C, D\] with D = features.size\(1\) = 6: \{got prototypes float32\[3, 5\]\}"),
            (lambda: L.ProCoLoss(counts)(z[:, 0], y, p[:2], torch.ones(3)), r"ProCoLoss - mu must be \[C, p\] with C = len\(class_counts\) = 3, p = z.size\(1\) = 6: \{got mu float32\[2, 6\]\}"),
            (lambda: L.ProCoLoss(counts)(z[:, 0], y, p, torch.ones(2)), r"kappa must be \[C\] with C = 3"),
            (lambda: L.PaCoLoss()(torch.randn(4, 3), z[:3, 0], y), r"PaCoLoss - anchors must be \[N, D\] with N = centre_logits.size\(0\) = 4: \{got anchors float32\[3, 6\]\}"),
            (lambda: L.PaCoLoss()(torch.randn(4, 3), z[:, 0], y, z[:, 0]), r"contrast \[M, D\] needs contrast_labels"),
            (lambda: L.PaCoLoss()(torch.randn(4, 3), z[:, 0], y, self_index=torch.zeros(3, dtype=torch.long)), r"self_index must be an integer tensor \[N\] with N = 4"),
        ]
        for call, pattern in bad:
            with self.subTest(pattern=pattern):
                with self.assertRaisesRegex(ValueError, pattern):
                    call()
        # What only the operator checks: label values, ltcl's message.
        with self.assertRaisesRegex(RuntimeError, r"labels must be in \[0, 3\)"):
            L.LogitAdjustedLoss(counts)(torch.randn(4, 3), torch.tensor([0, 1, 5, 0]))

    def test_help_reads_well(self):
        import pydoc
        text = pydoc.render_doc(L.BCL, renderer=pydoc.plaintext)
        for needle in ("class averaging", "class complement", "prototypes [C, D]",
                       "temperature=0.1", "D_i", "class_counts"):
            self.assertIn(needle, text)
        for cls in (L.SupCon, L.BCL, L.RCL, L.BCLRCL, L.ContrastiveLoss,
                    L.LogitAdjustedLoss, L.BalancedSoftmaxLoss, L.LDAMLoss,
                    L.FocalLoss, L.PSCLoss, L.ProCoLoss, L.PaCoLoss):
            self.assertIn("loss", cls.__doc__.lower(), cls)
            self.assertIn("forward", cls.__doc__, cls)


if __name__ == "__main__":
    unittest.main()
