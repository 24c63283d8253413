"""A plain torchvision-style CIFAR training loop with BCL + RCL added in a
few lines (marked "ltcl:"). docs/python.md shows it; tests/python/package/
test_example.py runs it on random tensors (--synthetic) in seconds.

    python cifar_bcl_rcl.py --data ~/cifar        # torchvision's CIFAR-100
    python cifar_bcl_rcl.py --synthetic           # no data, no torchvision
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

import ltcl


class Net(nn.Module):
    """Any backbone + a linear classifier; BCL adds a projection head and
    head_fc (the prototypes come from the classifier's weights)."""

    def __init__(self, num_classes, width=32, dim=128):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width, num_classes)
        self.head = nn.Sequential(nn.Linear(width, 512), nn.BatchNorm1d(512),   # ltcl:
                                  nn.ReLU(), nn.Linear(512, dim))
        self.head_fc = nn.Sequential(nn.Linear(width, 512), nn.BatchNorm1d(512),  # ltcl:
                                     nn.ReLU(), nn.Linear(512, dim))

    def forward(self, x):
        f = self.backbone(x)
        return f, self.fc(f)


class TwoCrops(Dataset):
    """Returns (view 0, view 1, view 2, label): view 0 for the classifier,
    views 1-2 for the contrastive loss (BCL's three views)."""

    def __init__(self, base, cls_transform, con_transform):
        self.base, self.t0, self.t1 = base, cls_transform, con_transform

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        img, y = self.base[i]
        return self.t0(img), self.t1(img), self.t1(img), y


def cifar100(root):
    import torchvision
    import torchvision.transforms as T
    norm = T.Normalize((0.507, 0.487, 0.441), (0.267, 0.256, 0.276))
    weak = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                      T.ToTensor(), norm])
    simclr = T.Compose([T.RandomResizedCrop(32, (0.08, 1.0)), T.RandomHorizontalFlip(),
                        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                        T.RandomGrayscale(0.2), T.ToTensor(), norm])
    train = torchvision.datasets.CIFAR100(root, train=True, download=True)
    keep = ltcl.data.select_long_tail(train.targets, 100)        # ltcl: CIFAR-100-LT IF 100
    labels = [train.targets[i] for i in keep]
    return TwoCrops(Subset(train, keep), weak, simclr), labels, 100


def synthetic(n=96, num_classes=10):
    """Random 32x32 images, long-tailed labels: the loop without data."""
    g = torch.Generator().manual_seed(0)
    counts = ltcl.data.long_tail_counts(num_classes, n / 4, 10)
    y = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    x = torch.randn(len(y), 3, 32, 32, generator=g)
    noise = lambda t: t + 0.1 * torch.randn_like(t)   # stand-in augmentations
    base = TensorDataset(x, y)
    return TwoCrops(base, noise, noise), y.tolist(), num_classes


def train(data, labels, num_classes, epochs=1, batch_size=32, lr=0.1, log=print):
    counts = ltcl.data.class_counts(labels, num_classes)          # ltcl: n_c
    la = ltcl.losses.LogitAdjustedLoss(counts)                    # ltcl: CE(x + log pi)
    bcl = ltcl.losses.BCLRCL(counts, temperature=0.1)             # ltcl: BCL + RCL
    model = Net(num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    history = []
    for epoch in range(epochs):
        for x0, x1, x2, y in loader:
            n = len(y)
            feats, logits = model(torch.cat([x0, x1, x2]))        # one forward, 3B images
            z = F.normalize(model.head(feats[n:]), dim=1)         # ltcl: views 1-2
            z = torch.stack([z[:n], z[n:]], dim=1)                # [B, 2, D]
            protos = F.normalize(model.head_fc(model.fc.weight), dim=1)   # ltcl: [C, D]
            loss = 2.0 * la(logits[:n], y) + 0.6 * bcl(z, y, protos)      # ltcl: alpha, beta
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(float(loss))
        log("epoch %d loss %.4f" % (epoch, history[-1]))
    return model, history


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="CIFAR-100 folder (torchvision downloads it)")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    ds, labels, C = synthetic() if a.synthetic or not a.data else cifar100(a.data)
    train(ds, labels, C, epochs=a.epochs)
