"""The same on a user's own dataset: a list of (image tensor, label) pairs
or any torch Dataset with labels. Make it long-tailed (or use it as it is),
count its classes, sample it class-balanced if wanted, train with BCL+RCL,
report many / medium / few accuracy and ECE. tests/python/package/
test_example.py runs it on a tiny synthetic dataset.
"""
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

import ltcl
from cifar_bcl_rcl import Net, TwoCrops, train


class MyImages(Dataset):
    """Stands in for the user's dataset: anything with __getitem__ -> (image
    [3, H, W], label) and a list of labels."""

    def __init__(self, n=120, num_classes=6, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(num_classes, (n,), generator=g).tolist()
        self.images = torch.randn(n, 3, 32, 32, generator=g)
        for i, y in enumerate(self.labels):        # make the classes learnable
            self.images[i, y % 3] += 2.0 * (1 + y // 3)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def run(epochs=2, log=print):
    full = MyImages()
    C = 6
    keep = ltcl.data.select_long_tail(full.labels, imbalance_factor=5,    # ltcl
                                      num_classes=C)
    labels = [full.labels[i] for i in keep]
    jitter = lambda t: t + 0.05 * torch.randn_like(t)
    data = TwoCrops(Subset(full, keep), jitter, jitter)
    model, history = train(data, labels, C, epochs=epochs, batch_size=16, lr=0.05, log=log)
    model.eval()
    with torch.no_grad():
        x = full.images
        logits = model(x)[1]
    y = torch.tensor(full.labels)
    counts = ltcl.data.class_counts(labels, C)
    acc = ltcl.metrics.group_accuracy(logits, y, counts,            # ltcl
                                      many_above=10, few_below=5)
    log("top-1 %.1f  many %.1f  medium %.1f  few %.1f  ECE %.3f" % (
        acc["top1"], acc["many"], acc["medium"], acc["few"],
        ltcl.metrics.ece(logits, y)))
    return history, acc


if __name__ == "__main__":
    run()
