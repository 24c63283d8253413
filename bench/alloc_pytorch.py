"""The glibc allocator effect in plain PyTorch (docs/results.md, "Allocator").

ResNet-20 (CIFAR layout, option-A shortcut, 1 input channel) forward +
backward + SGD step on random 32 x 32 images, 2 threads; prints images/s of
three timed steps after one warm-up. Compare:

    /usr/bin/python3 bench/alloc_pytorch.py 768
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 /usr/bin/python3 bench/alloc_pytorch.py 768
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else -1

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        if self.pad >= 0:
            x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(y + x)


def resnet20():
    layers, cin = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        for k in range(3):
            layers.append(Block(cin, cout, stride if k == 0 else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 768
    torch.set_num_threads(2)
    model = resnet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(batch, 1, 32, 32)
    y = torch.randint(0, 10, (batch,))
    for step in range(4):
        t = time.time()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if step > 0:
            print(f"batch {batch}: {batch / (time.time() - t):.0f} img/s")


if __name__ == "__main__":
    main()
