#!/usr/bin/python3
"""Writes the seed corpus of the fuzz harnesses: small valid files, a few KB
each, in fuzz/corpus/<target>/seed_*. Run with Debian's python3 (numpy and
PIL): /usr/bin/python3 fuzz/make_corpus.py. The files are checked in, so
neither is needed to build or test; findings are kept beside them as
crash_* / timeout_* / oom_* (the inputs that once failed)."""
import gzip
import io
import os
import pickle
import struct
import sys

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def pickles():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, size=(1, 3072)).astype(np.uint8)
    c10 = {b"batch_label": b"training batch 1 of 5", b"labels": [3],
           b"data": img, b"filenames": [b"x.png"]}
    for proto in (0, 2, 4):
        put("pickle", "cifar10_p%d.pkl" % proto, pickle.dumps(c10, protocol=proto))
    c100 = {"fine_labels": np.array([42], dtype=np.int64),
            "coarse_labels": np.array([7], dtype="<i2"), "data": img}
    put("pickle", "cifar100_ndarray_labels.pkl", pickle.dumps(c100, protocol=2))
    meta = {b"label_names": [b"airplane", b"automobile"], b"num_vis": 3072}
    put("pickle", "meta.pkl", pickle.dumps(meta, protocol=2))
    misc = {"s": "h\u00e9llo\n\u20ac", "f": 1.5, "big": 2 ** 40, "neg": -7,
            "t": (True, None, False), "b": b"\0\xff", "l": [[1], (2,), {}]}
    for proto in (0, 1, 2, 3, 4):
        put("pickle", "misc_p%d.pkl" % proto, pickle.dumps(misc, protocol=proto))


def be32(*v):
    return struct.pack(">%dI" % len(v), *v)


def idx():
    labels = be32(0x801, 5) + bytes([0, 1, 2, 9, 5])
    images = be32(0x803, 2, 4, 4) + bytes(range(32))
    put("idx", "labels.idx1", labels)
    put("idx", "images.idx3", images)
    put("idx", "labels.idx1.gz", gzip.compress(labels, mtime=0))
    put("idx", "images.idx3.gz", gzip.compress(images, mtime=0))
    put("idx", "labels_two_members.gz",
        gzip.compress(labels[:6], mtime=0) + gzip.compress(labels[6:], mtime=0))


def cifar_binary():
    rng = np.random.RandomState(1)
    px = rng.randint(0, 256, size=3072).astype(np.uint8).tobytes()
    put("cifar_binary", "cifar10.bin", bytes([0]) + px + bytes([8]) + px)
    put("cifar_binary", "cifar100.bin", bytes([3, 42]) + px + bytes([19, 99]) + px)


def list_file():
    put("list_file", "plain.txt", b"train/a.jpg 0\ntrain/b.jpg 1\n\ntrain/c d.png 2\n")
    put("list_file", "crlf.txt", b"n01/x.JPEG 7\r\nn02/y.JPEG\t3\r\n")
    put("list_file", "nested.txt", b"  a/b/c/d.jpg   12  \n./e.jpg 0")


def images():
    rng = np.random.RandomState(2)
    rgb = Image.fromarray(rng.randint(0, 256, (6, 5, 3)).astype(np.uint8))
    gray = Image.fromarray(rng.randint(0, 256, (4, 7)).astype(np.uint8))

    def save(im, name, **kw):
        b = io.BytesIO()
        im.save(b, **kw)
        put("image", name, b.getvalue())

    save(rgb, "rgb.png", format="PNG")
    save(gray, "gray.png", format="PNG")
    save(rgb.convert("RGBA"), "rgba.png", format="PNG")
    pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=4)
    pal.info["transparency"] = 0
    save(pal, "palette_trns.png", format="PNG", transparency=0)
    save(gray.convert("1"), "bilevel.png", format="PNG")
    save(rgb, "interlaced.png", format="PNG", interlace=1)
    save(Image.fromarray((np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)),
         "gray16.png", format="PNG")
    save(rgb, "rgb.jpg", format="JPEG", quality=90)
    save(gray, "gray.jpg", format="JPEG")
    save(rgb, "progressive.jpg", format="JPEG", progressive=True)
    save(rgb.convert("CMYK"), "cmyk.jpg", format="JPEG")


def yaml_config():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for rel in ("configs/cifar10_lt/_base.yaml", "configs/cifar10_lt/bcl.yaml",
                "configs/_methods/bcl_rcl.yaml"):
        path = os.path.join(repo, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                put("yaml_config", rel.replace("/", "_"), f.read())
    put("yaml_config", "sections.yaml",
        b"data:\n  dataset: cifar10\n  imbalance_factor: 100\n"
        b"  views: [cifar_weak, simclr]\noptim:\n  lr: 0.1\n  momentum: 0.9\n")
    put("yaml_config", "base_list.yaml",
        b"base: [_base.yaml, ../_methods/bcl.yaml]\nloss: {method: bcl, beta: 0.35}\n")
    put("yaml_config", "anchors.yaml",
        b"schedule: &s {epochs: 200, warmup_epochs: 5}\n"
        b"train: {seed: 0, eval_every: 10}\nextra: *s\n")
    put("yaml_config", "flow.yaml",
        b"{model: {arch: resnet32, width: 1}, output: {dir: 'runs/x'}}\n")
    put("yaml_config", "comments.yaml",
        b"# a comment\ndist:\n  backend: gloo  # trailing\nrun: ~\n")


def checkpoints():
    """Format-2 checkpoints as ltcl writes them (records named param/,
    buffer/, momentum/, sampler/, rng/, tensor/), small enough to fuzz."""
    sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "..", "python"))
    import ltcl_checkpoint as ck
    rng = np.random.RandomState(1)
    meta = {"kind": "ltcl checkpoint", "version": 2, "epoch": 3,
            "step_in_epoch": 0, "global_step": 30, "best_metric": 41.5,
            "best_epoch": 2, "config_yaml": "optim:\n  lr: 0.1\n",
            "std_rng": "", "history_json": "[{\"epoch\":0}]",
            "model_info": "{\"class_counts\":[5,2]}",
            "optimizer": [{"lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                           "weight_decay": 5e-4, "nesterov": False,
                           "params": ["0.weight", "0.bias"]}]}
    w = rng.randn(3, 4).astype(np.float32)
    records = {"param/0.weight": w, "param/0.bias": np.zeros(3, np.float32),
               "buffer/1.running_var": np.ones(3, np.float32),
               "buffer/1.num_batches_tracked": np.array(7, np.int64),
               "momentum/0.weight": (w * 0.1).astype(np.float32),
               "sampler/train": np.array([5, 3, 1, 0, -7], np.int64),
               "rng/cpu": rng.randint(0, 256, 40).astype(np.uint8),
               "tensor/queue": np.arange(6, dtype=np.float64).reshape(2, 3),
               "tensor/mask": np.array([True, False]),
               "tensor/empty": np.zeros((0, 4), np.int32)}
    put("checkpoint", "run.pt", ck.dumps(meta, records))
    put("checkpoint", "empty.pt", ck.dumps({"kind": "ltcl checkpoint"}, {}))
    put("checkpoint", "dtypes.pt", ck.dumps(
        {"kind": "other"},
        {"a": np.arange(4, dtype=np.int16), "b": np.arange(3, dtype=np.int8),
         "c": np.arange(2, dtype=np.float16), "d": np.arange(5, dtype=np.uint8)}))


if __name__ == "__main__":
    pickles()
    idx()
    cifar_binary()
    list_file()
    images()
    yaml_config()
    checkpoints()
    for t in sorted(os.listdir(ROOT)):
        files = os.listdir(os.path.join(ROOT, t))
        size = sum(os.path.getsize(os.path.join(ROOT, t, f)) for f in files)
        print("%-13s %2d files, %6d bytes" % (t, len(files), size))
    sys.exit(0)
