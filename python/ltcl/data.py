"""Long-tailed subsets, class-weighted samplers and shot groups.

    labels = np.array(train_set.targets)                 # any dataset's labels
    keep = ltcl.data.select_long_tail(labels, imbalance_factor=100)
    train_lt = torch.utils.data.Subset(train_set, keep)  # CIFAR-100-LT: 10847
    counts = ltcl.data.class_counts(labels[keep], 100)   # n_c, for the losses
    sampler = ltcl.data.ClassBalancedSampler(labels[keep])
    loader = DataLoader(train_lt, batch_size=128, sampler=sampler)
    groups = ltcl.data.shot_groups(counts)               # many / medium / few

The subset is the reference code's (LDAM-DRW's IMBALANCECIFAR, which every
published CIFAR-LT number uses), with NumPy's legacy generator itself, so it
is the same images as ltcl's C++ port (src/data/long_tail.cpp) and the
papers: CIFAR-10-LT 12406 / 13996 / 20431 and CIFAR-100-LT 10847 / 12608 /
19573 images at imbalance factor 100 / 50 / 10.
"""
from typing import Iterator, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = [
    "long_tail_counts", "select_long_tail", "class_counts",
    "ClassBalancedSampler", "SquareRootSampler", "ClassWeightedSampler",
    "ShotGroups", "shot_groups",
]

Labels = Union[Sequence[int], np.ndarray, torch.Tensor]


def _labels_array(name: str, labels: Labels) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    a = np.asarray(labels)
    if a.ndim != 1:
        raise ValueError("%s - labels must be 1-d [N]: {got shape %s}"
                         % (name, list(a.shape)))
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not (np.issubdtype(a.dtype, np.floating) and
                np.all(a == np.round(a))):
            raise TypeError("%s - labels must be integers: {got dtype %s}"
                            % (name, a.dtype))
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        i = int(np.argmin(a))
        raise ValueError("%s - labels must be >= 0: {got %d at position %d}"
                         % (name, int(a[i]), i))
    return a


def long_tail_counts(num_classes: int, n_max: float, imbalance_factor: float,
                     profile: str = "exp") -> List[int]:
    """Per-class counts of a long-tailed profile (METHODS.md section 1).

    exp:  n_c = int(n_max * (1/IF) ** (c / (C - 1.0)))   (c = 0 .. C-1)
    step: the first C // 2 classes int(n_max), the rest int(n_max / IF)

    Computed in float64 exactly as the reference code; e.g.
    ``long_tail_counts(10, 5000, 100)`` = [5000, 2997, 1796, 1077, 645, 387,
    232, 139, 83, 50].
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError("long_tail_counts - num_classes must be >= 1: {got %d}"
                         % num_classes)
    n_max = float(n_max)
    if not (n_max >= 0) or not np.isfinite(n_max):
        raise ValueError("long_tail_counts - n_max must be >= 0: {got %r}"
                         % n_max)
    factor = float(imbalance_factor)
    if not (factor >= 1) or not np.isfinite(factor):
        raise ValueError("long_tail_counts - imbalance_factor must be >= 1 "
                         "(n_max / n_min): {got %r}" % factor)
    imb = 1.0 / factor
    if profile == "exp":
        if num_classes == 1:
            return [int(n_max)]
        return [int(n_max * (imb ** (c / (num_classes - 1.0))))
                for c in range(num_classes)]
    if profile == "step":
        half = num_classes // 2
        return [int(n_max)] * half + [int(n_max * imb)] * (num_classes - half)
    raise ValueError("long_tail_counts - unknown profile: {got %r, want "
                     "'exp' or 'step'}" % (profile,))


def select_long_tail(labels: Labels, imbalance_factor: float = 100, *,
                     profile: str = "exp", num_classes: Optional[int] = None,
                     n_max: Optional[float] = None, seed: int = 0,
                     counts: Optional[Sequence[int]] = None) -> np.ndarray:
    """The indices of the long-tailed subset of a dataset with ``labels``.

    As the reference code: n_max = len(labels) / num_classes (unless given),
    counts from long_tail_counts (unless ``counts`` is given), then one
    ``np.random.RandomState(seed)``; for each class in order its indices in
    file order are shuffled and the first n_c kept (all of them when the
    class has fewer). Returns int64 [sum n_c]: class 0's picks in shuffled
    order, then class 1's, ...

    num_classes defaults to max(labels) + 1.
    """
    y = _labels_array("select_long_tail", labels)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError("select_long_tail - need at least one class: "
                         "{got num_classes %d}" % num_classes)
    if y.size and y.max() >= num_classes:
        raise ValueError("select_long_tail - labels must be in [0, %d): "
                         "{got max %d}" % (num_classes, int(y.max())))
    if counts is None:
        if n_max is None:
            n_max = len(y) / num_classes
        counts = long_tail_counts(num_classes, n_max, imbalance_factor,
                                  profile)
    counts = list(counts)
    if len(counts) != num_classes:
        raise ValueError("select_long_tail - counts needs one entry per class:"
                         " {got %d counts, %d classes}"
                         % (len(counts), num_classes))
    rng = np.random.RandomState(int(seed))
    picks = []
    for c in range(num_classes):
        idx = np.where(y == c)[0]
        rng.shuffle(idx)
        picks.append(idx[:max(0, int(counts[c]))])
    return np.concatenate(picks).astype(np.int64) if picks else \
        np.zeros(0, np.int64)


def class_counts(labels: Labels, num_classes: Optional[int] = None
                 ) -> List[int]:
    """n_c: how many labels equal c, for c in [0, num_classes)."""
    y = _labels_array("class_counts", labels)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and y.max() >= num_classes:
        raise ValueError("class_counts - labels must be in [0, %d): "
                         "{got max %d}" % (num_classes, int(y.max())))
    return np.bincount(y, minlength=num_classes).astype(np.int64).tolist()


class ClassWeightedSampler(Sampler):
    """Each draw picks class c with probability n_c^power / sum_j n_j^power,
    then one of its samples uniformly (with replacement), as ltcl's
    ClassWeightedSampler (src/data/sampler.cpp). power 0: class-balanced;
    0.5: square-root; 1: instance-balanced with replacement. Classes
    without samples are never drawn.

    Args:
        labels: the label of every sample of the dataset the loader reads
            ([N]; the indices yielded are positions in it).
        power: the exponent above, >= 0.
        num_samples: draws per epoch (default N).
        seed: the draws of epoch e come from torch.Generator seeded with
            (seed, e): call ``set_epoch(e)`` each epoch for new draws
            (as DistributedSampler), or leave it for the same order.
    """

    def __init__(self, labels: Labels, power: float, *,
                 num_samples: Optional[int] = None, seed: int = 0) -> None:
        name = type(self).__name__
        y = _labels_array(name, labels)
        if y.size == 0:
            raise ValueError("%s - labels is empty" % name)
        power = float(power)
        if not (power >= 0) or not np.isfinite(power):
            raise ValueError("%s - power must be >= 0: {got %r}"
                             % (name, power))
        if num_samples is not None and int(num_samples) < 1:
            raise ValueError("%s - num_samples must be >= 1: {got %r}"
                             % (name, num_samples))
        self.power = power
        self.num_samples = int(num_samples) if num_samples else len(y)
        self.seed = int(seed)
        self.epoch = 0
        counts = np.bincount(y)
        self.class_counts = counts
        order = np.argsort(y, kind="stable")
        self._members = torch.from_numpy(order)
        self._starts = torch.from_numpy(
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
        self._sizes = torch.from_numpy(counts.astype(np.int64))
        w = np.where(counts > 0, counts.astype(np.float64) ** power, 0.0)
        #: Probability of drawing each class, float64 [C].
        self.class_probs = torch.from_numpy(w / w.sum())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1000003 + self.epoch)
        cls = torch.multinomial(self.class_probs, self.num_samples,
                                replacement=True, generator=g)
        u = torch.rand(self.num_samples, generator=g, dtype=torch.float64)
        pos = (u * self._sizes[cls]).long().clamp_max(self._sizes[cls] - 1)
        return iter(self._members[self._starts[cls] + pos].tolist())


class ClassBalancedSampler(ClassWeightedSampler):
    """Every class equally likely, then a uniform sample of it (power 0 of
    ClassWeightedSampler): cRT's and Hybrid's classifier stream."""

    def __init__(self, labels: Labels, *, num_samples: Optional[int] = None,
                 seed: int = 0) -> None:
        super().__init__(labels, 0.0, num_samples=num_samples, seed=seed)


class SquareRootSampler(ClassWeightedSampler):
    """Class c drawn with probability sqrt(n_c) / sum_j sqrt(n_j), then a
    uniform sample of it (power 0.5 of ClassWeightedSampler)."""

    def __init__(self, labels: Labels, *, num_samples: Optional[int] = None,
                 seed: int = 0) -> None:
        super().__init__(labels, 0.5, num_samples=num_samples, seed=seed)


class ShotGroups(NamedTuple):
    """Class indices of each shot group (lists of int)."""
    many: List[int]
    medium: List[int]
    few: List[int]

    def group_of(self, c: int) -> str:
        """'many', 'medium' or 'few'."""
        for name in self._fields:
            if c in getattr(self, name):
                return name
        raise ValueError("ShotGroups.group_of - class %r is in no group" % c)


def shot_groups(class_counts: Sequence[int], *, many_above: int = 100,
                few_below: int = 20) -> ShotGroups:
    """Many / medium / few-shot classes by training count (METHODS.md
    section 1, ltcl's src/data/shot_groups.cpp): many = n_c > many_above,
    few = n_c < few_below, medium = the rest (20 <= n_c <= 100 by default;
    CIFAR-100-LT IF 100 gives 35 / 35 / 30 classes)."""
    if few_below > many_above + 1:
        raise ValueError("shot_groups - few threshold above many threshold: "
                         "{got few < %d, many > %d}" % (few_below, many_above))
    if isinstance(class_counts, torch.Tensor):
        class_counts = class_counts.tolist()
    many, medium, few = [], [], []
    for c, n in enumerate(class_counts):
        if n < 0:
            raise ValueError("shot_groups - negative count: {class %d, got %r}"
                             % (c, n))
        (many if n > many_above else few if n < few_below else medium).append(c)
    return ShotGroups(many, medium, few)
