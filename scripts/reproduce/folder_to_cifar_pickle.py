#!/usr/bin/env python3
"""Writes a CIFAR-10 folder of images as the original CIFAR-10 Python files.

    folder_to_cifar_pickle.py SRC OUT

SRC holds train/<class>/*.{jpg,png} and test/<class>/*.{jpg,png} (32x32 RGB,
e.g. ../shared/datasets/cifar10-jpeg); OUT/cifar-10-batches-py/ receives
data_batch_1..5, test_batch and batches.meta in the layout of the original
files (dict with b'data' uint8 [N, 3072] as R, G, B planes, b'labels',
b'filenames', b'batch_label'; protocol 2, as torchvision and ltcl read it).

Why: the official code of the papers (e.g. LDAM-DRW's cifar_train.py) reads
only these files, so running it as an external control on the same pixels
as ltcl needs them. Class indices follow the CIFAR-10 order of
batches.meta (airplane ... truck), not the folder's alphabetical order
(the two agree for CIFAR-10). Within a class the images keep the folder's
file-name order, which is the order the long-tail subset draws from
(np.where(labels == c)), so ltcl's folder reader and the official code pick
the same images. Classes are interleaved (image i of class c at position
10 i + c); the order across classes does not change any subset.
"""

import io
import os
import pickle
import struct
import sys

import numpy as np
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]


def read_split(root):
    per_class = []
    for name in CLASSES:
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            sys.exit(f"folder_to_cifar_pickle: {folder}: no such class folder")
        files = sorted(f for f in os.listdir(folder)
                       if f.lower().endswith((".jpg", ".jpeg", ".png")))
        images = []
        for f in files:
            path = os.path.join(folder, f)
            with Image.open(path) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if a.shape != (32, 32, 3):
                sys.exit(f"folder_to_cifar_pickle: {path}: {a.shape}, "
                         "expected 32x32 RGB")
            images.append(a)
        per_class.append((images, files))
    n = max(len(imgs) for imgs, _ in per_class)
    data, labels, names = [], [], []
    for i in range(n):
        for c, (imgs, files) in enumerate(per_class):
            if i < len(imgs):
                data.append(imgs[i].transpose(2, 0, 1).reshape(-1))
                labels.append(c)
                names.append(f"{CLASSES[c]}_{files[i]}".encode())
    return np.stack(data), labels, names


class Py2Pickler(pickle._Pickler):
    """Protocol 2 with bytes written as Python 2 str (SHORT_BINSTRING /
    BINSTRING), as in the original files: readers that load them with
    encoding='latin1' (torchvision) get str keys, readers that use
    encoding='bytes' (the CIFAR page's unpickle) get bytes keys."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def dump(obj, path):
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write(path, batch_label, data, labels, names):
    dump({b"batch_label": batch_label.encode(), b"labels": labels,
          b"data": data, b"filenames": names}, path)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], os.path.join(sys.argv[2], "cifar-10-batches-py")
    os.makedirs(out, exist_ok=True)
    data, labels, names = read_split(os.path.join(src, "train"))
    if len(labels) % 5:
        sys.exit(f"folder_to_cifar_pickle: {len(labels)} training images "
                 "do not split into 5 batches")
    k = len(labels) // 5
    for b in range(5):
        s = slice(b * k, (b + 1) * k)
        write(os.path.join(out, f"data_batch_{b + 1}"),
              f"training batch {b + 1} of 5", data[s], labels[s], names[s])
    data, labels, names = read_split(os.path.join(src, "test"))
    write(os.path.join(out, "test_batch"), "testing batch 1 of 1",
          data, labels, names)
    dump({b"label_names": [c.encode() for c in CLASSES],
          b"num_cases_per_batch": k, b"num_vis": 3072},
         os.path.join(out, "batches.meta"))
    print(f"folder_to_cifar_pickle: {out}: 5 x {k} training, "
          f"{len(labels)} test images")


if __name__ == "__main__":
    main()
