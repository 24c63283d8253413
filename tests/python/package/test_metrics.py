"""ltcl.metrics against values computed by hand (and the definitions of
src/eval/report.cpp, calibration.cpp and embedding_metrics.cpp)."""
import math
import unittest

import torch

import ltcl
from ltcl import metrics as M


def onehot_logits(pred, C, big=10.0):
    x = torch.zeros(len(pred), C)
    x[torch.arange(len(pred)), torch.tensor(pred)] = big
    return x


class AccuracyTest(unittest.TestCase):

    def test_groups_by_hand(self):
        # classes: 0 many (200), 1 medium (50), 2 few (5), 3 few (1)
        counts = [200, 50, 5, 1]
        y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 3])
        pred = [0, 0, 0, 1, 1, 0, 2, 0, 0, 3]
        r = M.group_accuracy(onehot_logits(pred, 4), y, counts)
        # per class: 3/4, 1/2, 1/3, 1/1
        per = [75.0, 50.0, 100 / 3, 100.0]
        for a, b in zip(r["per_class"], per):
            self.assertAlmostEqual(a, b, places=12)
        self.assertAlmostEqual(r["top1"], 60.0, places=12)        # 6 / 10
        self.assertAlmostEqual(r["mean_class"], sum(per) / 4, places=12)
        self.assertAlmostEqual(r["many"], 75.0, places=12)
        self.assertAlmostEqual(r["medium"], 50.0, places=12)
        self.assertAlmostEqual(r["few"], (100 / 3 + 100) / 2, places=12)
        self.assertEqual((r["many_classes"], r["medium_classes"], r["few_classes"]), (1, 1, 2))
        # predictions instead of logits give the same
        self.assertEqual(M.group_accuracy(torch.tensor(pred), y, counts)["top1"], r["top1"])

    def test_class_without_test_samples(self):
        r = M.group_accuracy(onehot_logits([0, 0], 3), torch.tensor([0, 0]), [500, 50, 5])
        self.assertTrue(math.isnan(r["per_class"][1]))
        self.assertTrue(math.isnan(r["medium"]) and math.isnan(r["few"]))
        self.assertEqual(r["mean_class"], 100.0)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, r"logits must be \[N, C\] with C = len\(train_counts\) = 3: \{got \[2, 4\]\}"):
            M.group_accuracy(torch.zeros(2, 4), torch.tensor([0, 1]), [5, 5, 5])
        with self.assertRaisesRegex(ValueError, r"labels must be an integer tensor \[N\] with N = 2"):
            M.group_accuracy(torch.zeros(2, 3), torch.tensor([0]), [5, 5, 5])
        with self.assertRaisesRegex(ValueError, r"labels must be in \[0, 3\)"):
            M.group_accuracy(torch.zeros(2, 3), torch.tensor([0, 3]), [5, 5, 5])


class CalibrationTest(unittest.TestCase):

    def test_ece_by_hand(self):
        # Two classes; logits (0, t) give confidence sigmoid(|t|).
        # conf 0.9 (bin 13 of 15: (13/15, 14/15]) x3: 2 correct
        # conf 0.6 (bin 9: (0.6, 0.6667]? 0.6 = 9/15 exactly -> bin 8) x2: 1 correct
        def logit_for(p):
            return math.log(p / (1 - p))
        x = torch.tensor([[0.0, logit_for(0.9)]] * 3 + [[0.0, logit_for(0.6)]] * 2,
                         dtype=torch.float64)
        y = torch.tensor([1, 1, 0, 1, 0])
        r = M.calibration(x, y)
        conf = torch.softmax(x, 1).max(1).values.tolist()
        hi, lo = conf[0], conf[3]
        want = 3 / 5 * abs(2 / 3 - hi) + 2 / 5 * abs(1 / 2 - lo)
        self.assertAlmostEqual(r["ece"], want, places=12)
        self.assertAlmostEqual(M.ece(x, y), want, places=12)
        self.assertAlmostEqual(r["mce"], max(abs(2 / 3 - hi), abs(0.5 - lo)), places=12)
        self.assertEqual(len(r["bins"]), 15)
        self.assertEqual(r["bins"][13]["count"], 3)
        # 0.6 in float64 from softmax is 0.6000000000000001 or 0.6: the edge
        # rule puts p <= 9/15 in bin 8, above it in bin 9
        b = 8 if lo <= 9 / 15 else 9
        self.assertEqual(r["bins"][b]["count"], 2)
        self.assertEqual(sum(row["count"] for row in r["bins"]), 5)

    def test_bin_edges(self):
        from ltcl.metrics import _bin
        self.assertEqual(_bin(0.0, 15), 0)
        self.assertEqual(_bin(1 / 15, 15), 0)       # (0, 1/15]
        self.assertEqual(_bin(math.nextafter(1 / 15, 1), 15), 1)
        self.assertEqual(_bin(1.0, 15), 14)
        self.assertEqual(_bin(14 / 15, 15), 13)
        # 7 / 25 * 25 = 7.000000000000001 in float64: ceil would say bin 7,
        # the edge rule (b/B, (b+1)/B] says bin 6
        self.assertEqual(_bin(7 / 25, 25), 6)

    def test_perfect_and_uniform(self):
        # confident and right: ECE = 1 - conf
        x = onehot_logits([0, 1, 2], 3, big=50.0).double()
        self.assertAlmostEqual(M.ece(x, torch.tensor([0, 1, 2])), 0.0, places=12)
        # uniform logits: conf 1/3, argmax 0; labels 0, 1, 2 -> acc 1/3
        x = torch.zeros(3, 3, dtype=torch.float64)
        self.assertAlmostEqual(M.ece(x, torch.tensor([0, 1, 2])), 0.0, places=12)
        self.assertAlmostEqual(M.ece(x, torch.tensor([1, 1, 2])), 1 / 3, places=12)


class EmbeddingTest(unittest.TestCase):

    def test_by_hand(self):
        # 2-d embeddings, 3 classes; class 0 at angles +-a around e1, class 1
        # at e2 (twice), class 2 at -e1 once.
        a = 0.3
        z = torch.tensor([[math.cos(a), math.sin(a)], [math.cos(a), -math.sin(a)],
                          [0.0, 2.0], [0.0, 1.0], [-3.0, 0.0]], dtype=torch.float64)
        y = torch.tensor([0, 0, 1, 1, 2])
        counts = [500, 50, 5]
        r = M.embedding_metrics(z, y, counts)
        pc = r["per_class"]
        # centroids e1, e2, -e1; R_0 = cos a
        self.assertAlmostEqual(pc[0]["resultant_length"], math.cos(a), places=7)
        self.assertAlmostEqual(pc[1]["resultant_length"], 1.0, places=12)
        # separation: 1 - max cos to another centroid: class 0 -> e2 (cos 0),
        # class 1 -> e1 or -e1 (0), class 2 -> e2 (0)
        for c in range(3):
            self.assertAlmostEqual(pc[c]["separation"], 1.0, places=7)
        self.assertEqual(pc[0]["nearest_class"], 1)
        # compactness of class 0 = cos a; margins: rival e2 (cos +-sin a)
        # or -e1 (-cos a): cos a - sin a and cos a + sin a, mean cos a
        self.assertAlmostEqual(pc[0]["compactness"], math.cos(a), places=7)
        self.assertAlmostEqual(pc[0]["extent"], 1 - math.cos(a), places=7)
        self.assertAlmostEqual(pc[0]["margin"], math.cos(a), places=7)
        self.assertEqual(pc[0]["positive_margin"], 1.0)
        self.assertAlmostEqual(pc[2]["margin"], 1.0, places=7)     # cos -e1 = 1, rival e2: 0
        self.assertEqual(r["nca_samples"], 100.0)
        self.assertEqual(r["centroid_classes"], 3)
        self.assertAlmostEqual(r["many"]["compactness"], math.cos(a), places=7)
        self.assertAlmostEqual(r["few"]["compactness"], 1.0, places=7)
        self.assertAlmostEqual(r["compactness_ratio"], 1 / math.cos(a), places=6)
        self.assertAlmostEqual(r["separation_cv"], 0.0, places=6)
        self.assertEqual(r["overall"]["classes"], 3)
        self.assertAlmostEqual(r["overall"]["nca"], 100.0)

    def test_reference_set_and_absent_values(self):
        ref = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        ry = torch.tensor([0, 1])
        z = torch.tensor([[1.0, 1.0], [0.2, 1.0], [1.0, 0.1]])
        y = torch.tensor([0, 1, 1])
        r = M.embedding_metrics(z, y, [200, 50, 1], reference=ref, reference_labels=ry)
        pc = r["per_class"]
        # class 2: no reference rows -> no centroid, nothing measured
        self.assertIsNone(pc[2]["resultant_length"])
        self.assertIsNone(pc[2]["compactness"])
        # row 0 (class 0) at 45 degrees: tie between e1 and e2 -> lowest index
        self.assertEqual(pc[0]["nca"], 100.0)
        self.assertAlmostEqual(pc[0]["margin"], 0.0, places=7)
        self.assertEqual(pc[0]["positive_margin"], 0.0)
        # class 1: one hit of two; margins (1 - .2) / |.| and (.1 - 1) / |.|
        m1 = (1.0 - 0.2) / math.hypot(0.2, 1.0)
        m2 = (0.1 - 1.0) / math.hypot(1.0, 0.1)
        self.assertAlmostEqual(pc[1]["margin"], (m1 + m2) / 2, places=7)
        self.assertEqual(pc[1]["nca"], 50.0)
        self.assertAlmostEqual(r["nca_samples"], 200 / 3, places=10)
        self.assertIsNone(r["few"])       # its one class is unmeasured
        self.assertIsNone(r["separation_ratio"])

    def test_cancelling_class_has_no_centroid(self):
        # class 2's reference rows cancel (R = 0): no direction, not in C*
        z = torch.tensor([[1.0, 0.1], [0.1, 1.0], [1.0, 0.0], [-1.0, 0.0]])
        r = M.embedding_metrics(z, torch.tensor([0, 1, 2, 2]), [200, 50, 5])
        self.assertEqual(r["centroid_classes"], 2)
        self.assertEqual(r["per_class"][2]["resultant_length"], 0.0)
        self.assertIsNone(r["per_class"][2]["separation"])
        self.assertIsNone(r["per_class"][2]["compactness"])
        self.assertEqual(r["nca_samples"], 50.0)   # class 2's rows are misses

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "row 1 of embeddings has norm 0"):
            M.embedding_metrics(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1]), [5, 5])
        with self.assertRaisesRegex(ValueError, "need at least two classes with a centroid"):
            M.embedding_metrics(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), [5, 5])
        with self.assertRaisesRegex(ValueError, r"non-finite value in embeddings: \{row 0, column 1\}"):
            M.embedding_metrics(torch.tensor([[1.0, float("nan")]]), torch.tensor([0]), [5, 5])


if __name__ == "__main__":
    unittest.main()
