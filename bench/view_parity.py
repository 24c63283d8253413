#!/usr/bin/python3
"""ltcl's augmented views and evaluation against bench/pt_trainer.py's, on the same images.

1. Views: `ltcl data preview` draws the eval, cifar_weak, SimCLR and SimCLR views of N training
   images spread over the classes (a PNG grid at scale 1, 2-pixel gaps); the PyTorch trainer
   draws its own weak and SimCLR views of the same (eval-view) images. Printed per view set:
   per-channel mean / std, grayscale fraction, mean horizontal gradient |dx|, black-pixel
   fraction; then the BCL losses (LA-CE on the weak view, contrastive on the two SimCLR views,
   batches of 256, BatchNorm in training mode) of one fixed model - the checkpoint - on ltcl's
   views, on the PyTorch trainer's, and on the two mixes.
2. Evaluation: the checkpoint's parameters and BatchNorm statistics loaded into the PyTorch
   trainer's model, evaluated on the test set with its evaluate(); printed beside the top-1 in
   the checkpoint's metrics.json (a fresh copy of the checkpoint: the loss passes of part 1 run
   BatchNorm in training mode, which moves its running statistics).

  /usr/bin/python3 bench/view_parity.py --checkpoint runs/parity/ltcl_bcl_s0_ldam/last.pt \
      [--src ../shared/datasets/cifar10-jpeg] [--ltcl build/ltcl] [--count 2048]

Needs a CIFAR-10 JPEG folder (train/<class>/*.jpg, test/<class>/*.jpg) and python3-pil.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import pt_trainer as pt  # noqa: E402

GAP = 2


def ltcl_views(ltcl, src, count, seed, png):
    subprocess.run([ltcl, "data", "preview", "--dataset", "folder", "--root", src, "--stats",
                    "cifar10", "--recipe", "eval,cifar_weak,simclr,simclr", "--count",
                    str(count), "--scale", "1", "--seed", str(seed), "--out", png],
                   check=True, stdout=subprocess.DEVNULL)
    grid = np.asarray(Image.open(png).convert("RGB"))
    cells = np.zeros((4, count, 32, 32, 3), np.uint8)
    for r in range(count):
        for c in range(4):
            y0, x0 = GAP + r * (32 + GAP), GAP + c * (32 + GAP)
            cells[c, r] = grid[y0:y0 + 32, x0:x0 + 32]
    return [torch.from_numpy(v).permute(0, 3, 1, 2).float() / 255.0 for v in cells]


def stats(name, x):
    gray = (x.std(dim=1).mean(dim=(1, 2)) < 1e-3).float().mean().item()
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean().item()
    black = (x.sum(1) == 0).float().mean().item()
    print("  %-10s mean %s  std %s  gray %.3f  |dx| %.4f  black %.4f" % (
        name, np.round(x.mean((0, 2, 3)).numpy(), 3), np.round(x.std((0, 2, 3)).numpy(), 3),
        gray, dx, black))


def load_model(path):
    params, buffers = pt.ltcl_tensors(path)
    src = dict(params, **buffers)
    net = pt.Net(10, bcl=True)
    with torch.no_grad():
        for n, t in list(net.named_parameters()) + list(net.named_buffers()):
            q = src.get(pt.ltcl_name(n))
            if q is None:
                sys.exit("%s: no %s" % (path, pt.ltcl_name(n)))
            t.copy_(q)
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True, help="an ltcl BCL checkpoint (ResNet-32)")
    ap.add_argument("--src", default=os.path.join(REPO, "..", "shared", "datasets",
                                                  "cifar10-jpeg"))
    ap.add_argument("--ltcl", default=os.path.join(REPO, "build", "ltcl"))
    ap.add_argument("--count", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--work", default="/tmp/ltcl_view_parity")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.work, exist_ok=True)
    n = args.count
    raw, lw, l1, l2 = ltcl_views(args.ltcl, args.src, n, args.seed,
                                 os.path.join(args.work, "views.png"))
    # The preview takes training images k * N_train / n, k = 0..n-1, of the sorted folder.
    _, labels_all, _ = pt.list_split(args.src, "train")
    labels = torch.tensor([labels_all[k * len(labels_all) // n] for k in range(n)])
    rng = np.random.default_rng(args.seed)
    pw, p1, p2 = pt.weak_view(raw, rng), pt.simclr_view(raw, rng), pt.simclr_view(raw, rng)
    print("views of %d training images (ltcl = `ltcl data preview`, pt = bench/pt_trainer.py):" % n)
    for name, x in [("source", raw), ("ltcl weak", lw), ("pt weak", pw), ("ltcl sim1", l1),
                    ("ltcl sim2", l2), ("pt sim1", p1), ("pt sim2", p2)]:
        stats(name, x)

    net = load_model(args.checkpoint)
    with open(os.path.join(os.path.dirname(args.checkpoint), "metrics.json")) as f:
        metrics = json.load(f)
    counts = np.array(metrics.get("class_counts") or
                      [r["train_count"] for r in metrics["per_class"]])
    log_prior = torch.log(torch.from_numpy(counts / counts.sum())).float()
    perm = torch.from_numpy(np.random.default_rng(0).permutation(n))

    def losses(v0, v1, v2):
        net.train()
        ce = con = 0.0
        k = 0
        with torch.no_grad():
            for s in range(0, n - 255, 256):
                i = perm[s:s + 256]
                y = labels[i]
                lo, z, pr = net.forward_bcl(torch.cat([pt.normalise(v0[i]), pt.normalise(v1[i]),
                                                       pt.normalise(v2[i])]))
                ce += pt.la_ce(lo[:256], y, log_prior).item()
                con += pt.bcl_contrastive(z[256:], torch.cat([y, y]), pr, torch.arange(10),
                                          0.1).item()
                k += 1
        return ce / k, con / k
    print("one fixed model (%s), BatchNorm in training mode:" % args.checkpoint)
    for name, v in [("ltcl views", (lw, l1, l2)), ("pt views", (pw, p1, p2)),
                    ("ltcl weak + pt SimCLR", (lw, p1, p2)), ("pt weak + ltcl SimCLR", (pw, l1, l2))]:
        print("  %-22s LA-CE %.4f  contrastive %.4f" % ((name,) + losses(*v)))

    te_img, te_lab, _ = pt.load_split(args.src, "test")
    tx = torch.from_numpy(te_img).permute(0, 3, 1, 2).contiguous()
    # A fresh copy: the training-mode passes above moved the BatchNorm running statistics.
    ev = pt.evaluate(load_model(args.checkpoint), tx, te_lab, counts)
    print("evaluation of the checkpoint: PyTorch trainer's evaluate() top-1 %.2f; ltcl's "
          "metrics.json top-1 %.2f (%s)" % (ev["top1"], metrics["top1"],
                                            metrics.get("selection", "?")))


if __name__ == "__main__":
    main()
