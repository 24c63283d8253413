#!/usr/bin/python3
"""Reference rate: BCL's 3-view pipeline in torchvision 0.14 + PIL + DataLoader.

Views: cifar_weak (RandomCrop(32, 4) + flip) and twice simclr
(RandomResizedCrop(32, (0.08, 1)) + flip + RandomApply(ColorJitter(0.4, 0.4,
0.4, 0.1), 0.8) + RandomGrayscale(0.2)), each ToTensor + Normalize, on an
ImageFolder (JPEG files decoded by PIL for every sample).

Prints one JSON line: images/s counting every view (3 per sample), measured
after `--warmup` batches, over at least `--seconds`.

  /usr/bin/python3 bench/loader_torchvision.py --root DIR [--workers 2]
"""
import argparse
import json
import time

import torch
from torchvision import datasets, transforms

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


class MultiView:
    def __init__(self, pipelines):
        self.pipelines = pipelines

    def __call__(self, image):
        return [p(image) for p in self.pipelines]


def bcl_views(size):
    norm = [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    weak = transforms.Compose(
        [transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip()] + norm
    )
    simclr = transforms.Compose(
        [
            transforms.RandomResizedCrop(size, scale=(0.08, 1.0)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2),
        ]
        + norm
    )
    return MultiView([weak, simclr, simclr])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=int, default=3, help="batches")
    args = ap.parse_args()

    torch.set_num_threads(1)
    data = datasets.ImageFolder(args.root, transform=bcl_views(32))
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        drop_last=True,
        persistent_workers=args.workers > 0,
    )
    views = 3
    seen = 0
    batches = 0
    start = None
    while True:
        for images, labels in loader:
            assert len(images) == views and images[0].shape[0] == args.batch_size
            batches += 1
            if batches == args.warmup:
                start = time.perf_counter()
                continue
            if start is None:
                continue
            seen += views * labels.shape[0]
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds:
                print(
                    json.dumps(
                        {
                            "loader": "torchvision",
                            "torchvision": __import__("torchvision").__version__,
                            "workers": args.workers,
                            "batch_size": args.batch_size,
                            "views": views,
                            "seconds": round(elapsed, 3),
                            "images": seen,
                            "images_per_s": round(seen / elapsed, 1),
                        }
                    )
                )
                return


if __name__ == "__main__":
    main()
