#!/usr/bin/python3
"""One BCL / LA step of ltcl against bench/pt_trainer.py on the same weights and the same images.

Accuracy curves of two trainers differ for many reasons (augmentation draws, batch order,
initial weights). This check removes all of them: a small folder dataset written as PNG (lossless,
so both decoders see the same pixels), every view the deterministic "eval" recipe, one batch that
is the whole training set (so the sampler's order cannot matter), and ltcl's initial weights
loaded into the PyTorch model. ltcl takes one SGD step twice from the same initial weights w0,
with lr L and 2L (the first SGD step with momentum moves by lr * (g + wd * w0)), so
w0 = 2 w_L - w_2L and g = (w_L - w_2L) / L - wd * w0. The PyTorch trainer's model and loss functions
(bench/pt_trainer.py) then compute the loss and gradient on the same batch.

  /usr/bin/python3 bench/grad_parity.py [--method bcl|la] [--ltcl build/ltcl] [--work DIR]

Prints the loss parts of both and, per parameter tensor, the relative difference of the gradients
||g_ltcl - g_pt|| / ||g_pt||; exits 1 when the largest exceeds --tol.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import pt_trainer as pt  # noqa: E402

# Training images per class: long-tailed, 256 in all, every class present.
COUNTS = [96, 60, 36, 22, 14, 9, 7, 5, 4, 3]


def write_dataset(src, dst):
    """PNG copies of the first COUNTS[c] training images of each class (sorted order) + 2 test each."""
    from PIL import Image
    if os.path.exists(os.path.join(dst, ".complete")):
        return
    classes = sorted(os.listdir(os.path.join(src, "train")))
    for split, per in (("train", COUNTS), ("test", [2] * len(classes))):
        for c, name in enumerate(classes):
            files = sorted(os.listdir(os.path.join(src, split, name)))[:per[c]]
            out = os.path.join(dst, split, name)
            os.makedirs(out, exist_ok=True)
            for f in files:
                img = Image.open(os.path.join(src, split, name, f)).convert("RGB")
                img.save(os.path.join(out, os.path.splitext(f)[0] + ".png"))
    open(os.path.join(dst, ".complete"), "w").close()


def load_folder(root):
    classes = sorted(os.listdir(os.path.join(root, "train")))
    xs, ys = [], []
    from PIL import Image
    for c, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, "train", name))):
            xs.append(np.asarray(Image.open(os.path.join(root, "train", name, f)).convert("RGB")))
            ys.append(c)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.tensor(ys)


def run_ltcl(ltcl, method, data, out, lr, wd, seed):
    cfg = "configs/cifar10_lt/%s.yaml" % method
    views = "[eval,eval,eval]" if method == "bcl" else "[eval]"
    cmd = [ltcl, "train", "--config", cfg, "--out", out, "--threads", "2", "--set",
           "data.dataset=folder", "data.root=" + data, "data.normalization=cifar10",
           "data.profile=none", "data.validation=none", "train.select_on=last",
           "data.views=" + views, "schedule.epochs=1", "schedule.warmup_epochs=0",
           "optim.batch_size=%d" % sum(COUNTS), "optim.lr=%g" % lr,
           "optim.weight_decay=%g" % wd, "train.seed=%d" % seed, "model.init=ldam",
           "output.plots=false", "data.workers=0"]
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    m = torch.jit.load(os.path.join(out, "last.pt"))
    params = {n[len("model."):]: p.detach().double().clone()
              for n, p in m.named_parameters() if n.startswith("model.")}
    with open(os.path.join(out, "steps.jsonl")) as f:
        step = json.loads(f.readline())
    return params, step


def pt_name(n):
    """ltcl parameter name -> bench/pt_trainer.py's Net name."""
    parts = n.split(".")
    if parts[0] == "backbone" and parts[1].startswith("layer"):
        stage, block = int(parts[1][5:]), int(parts[2])
        return "backbone.layers.%d.%s" % ((stage - 1) * 5 + block, ".".join(parts[3:]))
    if parts[0] == "linear":
        return "fc." + parts[1]
    head = {"fc1": "0", "bn": "1", "fc2": "3"}
    if parts[0] == "head":
        return "head.%s.%s" % (head[parts[1]], parts[2])
    if parts[0] == "head_fc":
        return "head_fc.%s.%s" % (head[parts[2]], parts[3])
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["bcl", "la"], default="bcl")
    ap.add_argument("--ltcl", default="build/ltcl")
    ap.add_argument("--src", default=os.path.join(REPO, "..", "shared", "datasets", "cifar10-jpeg"))
    ap.add_argument("--work", default="/tmp/ltcl_grad_parity")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = os.path.join(args.work, "data")
    write_dataset(args.src, data)
    w1, step0 = run_ltcl(args.ltcl, args.method, data, os.path.join(args.work, args.method + "_lr1"),
                         args.lr, args.wd, args.seed)
    w2, _ = run_ltcl(args.ltcl, args.method, data, os.path.join(args.work, args.method + "_lr2"),
                     2 * args.lr, args.wd, args.seed)
    w0 = {n: 2 * w1[n] - w2[n] for n in w1}
    g_ltcl = {n: (w1[n] - w2[n]) / args.lr - args.wd * w0[n] for n in w1}

    bcl = args.method == "bcl"
    model = pt.Net(10, bcl=bcl).double()
    state = model.state_dict()
    loaded = set()
    for n, p in w0.items():
        state[pt_name(n)].copy_(p)
        loaded.add(pt_name(n))
    missing = [n for n, _ in model.named_parameters() if n not in loaded]
    if missing:
        sys.exit("parameters of the PyTorch model not in ltcl's checkpoint: %s" % missing)
    model.train()
    x, y = load_folder(data)
    counts = np.bincount(y.numpy(), minlength=10)
    log_prior = torch.log(torch.from_numpy(counts / counts.sum()))
    xn = pt.normalise(x.double())
    if bcl:
        logits, z, protos = model.forward_bcl(torch.cat([xn, xn, xn], 0))
        b = y.shape[0]
        ce = pt.la_ce(logits[:b], y, log_prior)
        con = pt.bcl_contrastive(z[b:], torch.cat([y, y]), protos, torch.arange(10), 0.1)
        loss = 2.0 * ce + 0.6 * con
        print("loss parts   ltcl la_ce %.6f contrastive %.6f | pytorch la_ce %.6f contrastive %.6f"
              % (step0.get("la_ce", float("nan")), step0.get("contrastive", float("nan")),
                 ce.item(), con.item()))
    else:
        logits = model(xn)
        loss = pt.la_ce(logits, y, log_prior)
        print("loss   ltcl %s | pytorch %.6f" % (step0, loss.item()))
    loss.backward()
    worst = 0.0
    rows = []
    for n, p in model.named_parameters():
        ln = [k for k in w0 if pt_name(k) == n][0]
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        den = g.norm().item()
        rel = (g_ltcl[ln] - g).norm().item() / max(den, 1e-12)
        rows.append((rel, n, den, g_ltcl[ln].norm().item()))
        worst = max(worst, rel)
    rows.sort(reverse=True)
    print("largest relative gradient differences (|g_ltcl - g_pt| / |g_pt|):")
    for rel, n, den, nl in rows[:15]:
        print("  %-40s rel %.2e   |g_pt| %.3e  |g_ltcl| %.3e" % (n, rel, den, nl))
    print("steps.jsonl of the first run:", step0)
    print("worst %.3e (tol %.1e)" % (worst, args.tol))
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
