"""ltcl.data: the long-tail counts and subsets equal ltcl's published ones
(tests/data/long_tail.cpp's expectations) and the reference code run here
with NumPy's global generator; sampler statistics; shot groups as
src/data/shot_groups.cpp."""
import os
import unittest

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import ltcl
from ltcl import data as D

SHARED = os.environ.get("LTCL_SHARED_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..",
    "shared"))


def reference_selection(targets, cls_num, imb_type, imb_factor, seed):
    """LDAM-DRW's gen_imbalanced_data, as in tests/data/long_tail.cpp."""
    np.random.seed(seed)
    img_max = len(targets) / cls_num
    nums = []
    if imb_type == "exp":
        for c in range(cls_num):
            nums.append(int(img_max * (imb_factor ** (c / (cls_num - 1.0)))))
    else:
        nums = [int(img_max)] * (cls_num // 2)
        nums += [int(img_max * imb_factor)] * (cls_num - cls_num // 2)
    sel = []
    for c, n in zip(range(cls_num), nums):
        idx = np.where(targets == c)[0]
        np.random.shuffle(idx)
        sel.extend(idx[:n])
    return nums, np.array(sel, dtype=np.int64)


class LongTailTest(unittest.TestCase):

    def test_counts_by_hand(self):
        # tests/data/long_tail.cpp, CountsByHand
        self.assertEqual(D.long_tail_counts(10, 5000, 100),
                         [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
        self.assertEqual(D.long_tail_counts(4, 100, 10, "step"), [100, 100, 10, 10])
        self.assertEqual(D.long_tail_counts(5, 100, 10, "step"), [100, 100, 10, 10, 10])
        self.assertEqual(D.long_tail_counts(3, 40, 1), [40, 40, 40])
        with self.assertRaisesRegex(ValueError, "imbalance_factor must be >= 1"):
            D.long_tail_counts(3, 40, 0.5)
        with self.assertRaisesRegex(ValueError, "num_classes must be >= 1"):
            D.long_tail_counts(0, 40, 10)
        with self.assertRaisesRegex(ValueError, "linear"):
            D.long_tail_counts(3, 40, 10, "linear")

    def test_published_sizes(self):
        # CIFAR-10-LT and CIFAR-100-LT (METHODS.md section 1).
        for classes, per_class, sizes in ((10, 5000, {100: 12406, 50: 13996, 10: 20431}),
                                          (100, 500, {100: 10847, 50: 12608, 10: 19573})):
            # A synthetic train label set, interleaved as the C++ test's.
            labels = np.array([(c * 37 + i) % classes for i in range(per_class)
                               for c in range(classes)])
            for factor, size in sizes.items():
                with self.subTest(classes=classes, factor=factor):
                    counts = D.long_tail_counts(classes, per_class, factor)
                    self.assertEqual(sum(counts), size)
                    keep = D.select_long_tail(labels, factor)
                    self.assertEqual(len(keep), size)
                    self.assertEqual(D.class_counts(labels[keep], classes), counts)
                    # class by class, each pick of its class
                    self.assertTrue(np.all(np.diff(labels[keep]) >= 0))
        g = D.shot_groups(D.long_tail_counts(100, 500, 100))
        self.assertEqual((len(g.many), len(g.medium), len(g.few)), (35, 35, 30))

    def test_equals_reference_code(self):
        # tests/data/long_tail.cpp SelectionMatchesNumpyReference: 3000
        # labels of 7 classes of unequal sizes, both profiles, 4 factors, 3
        # seeds; ltcl's selection is the reference's, index for index.
        rs = np.random.RandomState(99)
        labels = rs.randint(0, 7, size=3000)
        for imb_type in ("exp", "step"):
            for imb_factor in (0.01, 0.02, 0.1, 1.0 / 3):
                for seed in (0, 1, 2024):
                    nums, want = reference_selection(labels, 7, imb_type, imb_factor, seed)
                    factor = 3.0 if round(1 / imb_factor) == 3 else round(1 / imb_factor)
                    with self.subTest(profile=imb_type, factor=factor, seed=seed):
                        self.assertEqual(D.long_tail_counts(7, 3000 / 7, factor, imb_type), nums)
                        got = D.select_long_tail(labels, factor, profile=imb_type, seed=seed)
                        np.testing.assert_array_equal(got, want)

    def test_shared_cifar10_folder(self):
        root = os.path.join(SHARED, "datasets", "cifar10-jpeg", "train")
        if not os.path.isdir(root):
            self.skipTest("shared CIFAR-10 JPEGs absent (%s)" % root)
        names = sorted(os.listdir(root))
        labels = np.concatenate([np.full(len(os.listdir(os.path.join(root, n))), c)
                                 for c, n in enumerate(names)])
        self.assertEqual(len(labels), 50000)
        for factor, size in ((100, 12406), (50, 13996), (10, 20431)):
            self.assertEqual(len(D.select_long_tail(labels, factor)), size)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, r"labels must be 1-d \[N\]: \{got shape \[2, 2\]\}"):
            D.select_long_tail(np.zeros((2, 2), int))
        with self.assertRaisesRegex(ValueError, r"labels must be >= 0: \{got -1 at position 1\}"):
            D.select_long_tail([0, -1])
        with self.assertRaisesRegex(ValueError, r"counts needs one entry per class: \{got 2 counts, 3 classes\}"):
            D.select_long_tail([0, 1, 2], counts=[1, 1])
        with self.assertRaisesRegex(ValueError, r"labels must be in \[0, 2\)"):
            D.select_long_tail([0, 1, 2], num_classes=2)


class SamplerTest(unittest.TestCase):

    def setUp(self):
        # 4 classes of 800, 150, 40, 10 samples, shuffled positions
        rs = np.random.RandomState(1)
        self.labels = rs.permutation(np.repeat(np.arange(4), [800, 150, 40, 10]))

    def draws(self, sampler):
        idx = np.array(list(iter(sampler)))
        return idx, np.bincount(self.labels[idx], minlength=4)

    def test_class_balanced(self):
        s = D.ClassBalancedSampler(self.labels, num_samples=40000, seed=3)
        self.assertEqual(len(s), 40000)
        torch.testing.assert_close(s.class_probs, torch.full((4,), 0.25, dtype=torch.float64))
        idx, per_class = self.draws(s)
        # each class 10000 +- 5 sigma (sigma = sqrt(40000 * .25 * .75) = 87)
        self.assertTrue(np.all(np.abs(per_class - 10000) < 5 * 87), per_class)
        # within a class, uniform over its samples: the 10-sample class's
        # members each about 1000 times
        rare = np.where(self.labels == 3)[0]
        hits = np.array([(idx == i).sum() for i in rare])
        self.assertTrue(np.all(np.abs(hits - 1000) < 5 * 31), hits)
        self.assertTrue(set(idx.tolist()) <= set(range(len(self.labels))))

    def test_square_root(self):
        s = D.SquareRootSampler(self.labels, num_samples=40000, seed=4)
        n = np.array([800, 150, 40, 10], dtype=np.float64)
        want = np.sqrt(n) / np.sqrt(n).sum()
        torch.testing.assert_close(s.class_probs, torch.tensor(want))
        _, per_class = self.draws(s)
        sigma = np.sqrt(40000 * want * (1 - want))
        self.assertTrue(np.all(np.abs(per_class - 40000 * want) < 5 * sigma), per_class)

    def test_epochs_seeds_and_loader(self):
        s = D.ClassBalancedSampler(self.labels, seed=7)
        self.assertEqual(len(s), 1000)
        a = list(s)
        self.assertEqual(a, list(s))          # same epoch: same order
        s.set_epoch(1)
        self.assertNotEqual(a, list(s))       # next epoch: new draws
        self.assertNotEqual(a, list(D.ClassBalancedSampler(self.labels, seed=8)))
        ds = TensorDataset(torch.arange(1000), torch.from_numpy(self.labels))
        loader = DataLoader(ds, batch_size=100, sampler=D.ClassBalancedSampler(self.labels))
        seen = torch.cat([y for _, y in loader])
        self.assertEqual(len(seen), 1000)
        self.assertGreater(int((seen == 3).sum()), 150)  # rare class oversampled
        with self.assertRaisesRegex(ValueError, "power must be >= 0"):
            D.ClassWeightedSampler(self.labels, -1)
        with self.assertRaisesRegex(ValueError, "labels is empty"):
            D.ClassBalancedSampler([])

    def test_empty_class_never_drawn(self):
        labels = np.array([0, 0, 2, 2, 2])
        s = D.ClassBalancedSampler(labels, num_samples=500)
        self.assertEqual(float(s.class_probs[1]), 0.0)
        self.assertEqual(set(labels[list(s)].tolist()), {0, 2})


class ShotGroupTest(unittest.TestCase):

    def test_thresholds(self):
        # tests/data/long_tail.cpp, DataShotGroups.ThresholdsAndMembership
        counts = [500, 101, 100, 20, 19, 0]
        g = D.shot_groups(counts)
        self.assertEqual(g, D.ShotGroups([0, 1], [2, 3], [4, 5]))
        self.assertEqual(g.group_of(3), "medium")
        h = D.shot_groups(counts, many_above=19, few_below=1)
        self.assertEqual((len(h.many), len(h.medium), len(h.few)), (4, 1, 1))
        with self.assertRaisesRegex(ValueError, "few threshold above many"):
            D.shot_groups(counts, many_above=10, few_below=50)
        with self.assertRaisesRegex(ValueError, r"negative count: \{class 0, got -1\}"):
            D.shot_groups([-1])


if __name__ == "__main__":
    unittest.main()
