#!/usr/bin/python3
"""Self-test of bench/pt_trainer.py (fast, CPU):  /usr/bin/python3 bench/pt_trainer_test.py"""
import math
import os
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pt_trainer as pt  # noqa: E402


def naive_contrastive(z, y, protos, plabels, tau, class_averaging=True):
    """Per-anchor double loop in float64, straight from the formulas of METHODS.md section 3."""
    z = [list(map(float, r)) for r in z]
    keys = z + ([list(map(float, r)) for r in protos] if protos is not None else [])
    klab = list(map(int, y)) + (list(map(int, plabels)) if protos is not None else [])
    total = 0.0
    for i in range(len(z)):
        yi = klab[i]
        def logit(k):
            return sum(a * b for a, b in zip(z[i], keys[k])) / tau
        d = 0.0
        for k in range(len(keys)):
            if k == i:
                continue
            if class_averaging:
                w = 1.0 / (klab.count(klab[k]) - (1 if klab[k] == yi else 0))
            else:
                w = 1.0
            d += w * math.exp(logit(k))
        positives = [k for k in range(len(keys)) if k != i and klab[k] == yi]
        if positives:
            total += -sum(math.log(math.exp(logit(p)) / d) for p in positives) / len(positives)
    return total / len(z)


class LongTail(unittest.TestCase):
    def test_sizes(self):
        for imb, size in ((100, 12406), (50, 13996), (10, 20431)):
            self.assertEqual(sum(pt.lt_counts(5000, 10, imb)), size)
        for imb, size in ((100, 10847), (50, 12608), (10, 19573)):
            self.assertEqual(sum(pt.lt_counts(500, 100, imb)), size)
        self.assertEqual(pt.lt_counts(5000, 10, 100)[0], 5000)
        self.assertEqual(pt.lt_counts(5000, 10, 100)[9], 50)

    def test_selection_on_synthetic_labels(self):
        labels = np.repeat(np.arange(10), 5000)
        keep, counts = pt.lt_indices(labels, 100, 10)
        self.assertEqual(len(keep), 12406)
        self.assertEqual(np.bincount(labels[keep]).tolist(), counts)
        self.assertEqual(len(np.unique(keep)), len(keep))


class Contrastive(unittest.TestCase):
    def test_hand_value(self):
        # tau 1, no prototypes. Anchors 0,1 class 0 with z = e1, anchor 2 class 1 with z = e2.
        # Anchor 0: keys 1 (w = 1/(2-1), l = 1) and 2 (w = 1/1, l = 0): D = e + 1,
        # L_0 = -log(e/(e+1)); same for anchor 1; anchor 2 has no positive -> 0.
        z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        y = torch.tensor([0, 0, 1])
        got = pt.bcl_contrastive(z, y, None, None, tau=1.0).item()
        want = 2 * math.log(1 + math.exp(-1)) / 3
        self.assertAlmostEqual(got, want, places=12)

    def _random(self, seed, n_img=4, views=2, d=5, c=3):
        g = torch.Generator().manual_seed(seed)
        z = torch.nn.functional.normalize(torch.randn(n_img * views, d, generator=g,
                                                      dtype=torch.float64), dim=1)
        p = torch.nn.functional.normalize(torch.randn(c, d, generator=g, dtype=torch.float64), dim=1)
        return z, p

    def test_against_naive_with_prototypes(self):
        y_img = torch.tensor([0, 0, 1, 2])               # class 2 has one image, class 1 one too
        y = torch.cat([y_img, y_img])                     # 4 images x 2 views
        plab = torch.arange(3)
        for seed in range(3):
            z, p = self._random(seed)
            for tau in (0.1, 0.5):
                for avg in (True, False):
                    got = pt.bcl_contrastive(z, y, p, plab, tau, avg).item()
                    want = naive_contrastive(z, y, p, plab, tau, avg)
                    self.assertAlmostEqual(got, want, delta=1e-10 * max(1.0, abs(want)))

    def test_no_positive_anchor(self):
        # one view, no prototypes: anchors 2 and 3 (classes 1, 2) have no positive and contribute
        # 0, yet they count in the mean over anchors and serve as keys for anchors 0 and 1.
        z, _ = self._random(7, n_img=4, views=1)
        y = torch.tensor([0, 0, 1, 2])
        got = pt.bcl_contrastive(z, y, None, None, 0.1).item()
        want = naive_contrastive(z, y, None, None, 0.1)
        self.assertTrue(math.isfinite(got))
        self.assertAlmostEqual(got, want, places=10)
        # and the class-0 pair alone (no key without a positive left)
        self.assertAlmostEqual(pt.bcl_contrastive(z[:2], y[:2], None, None, 0.1).item(),
                               naive_contrastive(z[:2], y[:2], None, None, 0.1), places=10)

    def test_gradients_and_stability(self):
        y = torch.tensor([0, 0, 1, 2, 0, 0, 1, 2])
        z, p = self._random(3)
        z.requires_grad_(True)
        p.requires_grad_(True)
        loss = pt.bcl_contrastive(z, y, p, torch.arange(3), 0.1)
        loss.backward()
        self.assertTrue(torch.isfinite(z.grad).all() and torch.isfinite(p.grad).all())
        self.assertGreater(p.grad.abs().sum().item(), 0)   # prototypes (keys) get gradients
        # tiny temperature in float32: the row-max shift keeps it finite
        lo = pt.bcl_contrastive(z.detach().float(), y, p.detach().float(), torch.arange(3), 0.002)
        self.assertTrue(math.isfinite(lo.item()))


class Model(unittest.TestCase):
    def test_resnet32(self):
        torch.manual_seed(0)
        net = pt.Net(10)
        pt.init_ldam(net)
        n = sum(q.numel() for q in net.parameters())
        print("\nResNet-32 (option A) + linear 64->10 parameters: %d" % n)
        self.assertEqual(n, 464154)
        net.eval()
        out = net(torch.randn(3, 3, 32, 32))
        self.assertEqual(tuple(out.shape), (3, 10))
        bcl = pt.Net(10, bcl=True)
        bcl.train()
        logits, z, protos = bcl.forward_bcl(torch.randn(6, 3, 32, 32))
        self.assertEqual((tuple(logits.shape), tuple(z.shape), tuple(protos.shape)),
                         ((6, 10), (6, 128), (10, 128)))
        self.assertTrue(torch.allclose(z.norm(dim=1), torch.ones(6), atol=1e-5))


class Augment(unittest.TestCase):
    def test_views(self):
        rng = np.random.default_rng(0)
        x = torch.rand(8, 3, 32, 32)
        w = pt.weak_view(x, rng)
        s = pt.simclr_view(x, rng)
        self.assertEqual(tuple(w.shape), (8, 3, 32, 32))
        self.assertEqual(tuple(s.shape), (8, 3, 32, 32))
        self.assertTrue(0 <= float(s.min()) and float(s.max()) <= 1)
        # a full-image box without flip is the identity
        i = np.zeros(8, np.int64); h = np.full(8, 32)
        same = pt.resized_crop_flip(x, i, i, h, h, np.zeros(8, bool))
        self.assertTrue(torch.allclose(same, x, atol=1e-5))
        flipped = pt.resized_crop_flip(x, i, i, h, h, np.ones(8, bool))
        self.assertTrue(torch.allclose(flipped, x.flip(3), atol=1e-5))
        # hsv round trip
        hh, sat, v = pt.rgb_to_hsv(x)
        self.assertTrue(torch.allclose(pt.hsv_to_rgb(hh, sat, v), x, atol=1e-5))

    def test_lr(self):
        S, E, W = 10, 5, 1
        self.assertAlmostEqual(pt.lr_at(0.15, 0, 0, S, E, W), 0.015)
        self.assertAlmostEqual(pt.lr_at(0.15, 0, 9, S, E, W), 0.15)
        self.assertAlmostEqual(pt.lr_at(0.15, 1, 0, S, E, W), 0.15)
        self.assertAlmostEqual(pt.lr_at(0.15, 3, 0, S, E, W), 0.075)


if __name__ == "__main__":
    unittest.main(verbosity=2)
