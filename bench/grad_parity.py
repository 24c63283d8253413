#!/usr/bin/python3
"""One training step of ltcl against bench/pt_trainer.py on the same weights and the same images.

Accuracy curves of two trainers differ for many reasons (augmentation draws, batch order,
initial weights). This check removes all of them: a small CIFAR-10 binary dataset (random
images by default, or the first images of each class of a CIFAR-10 JPEG folder with --src),
every view the deterministic "eval" recipe, one batch that is the whole training set (so the
sampler's order cannot matter), and ltcl's initial weights loaded into the PyTorch model. ltcl
takes one SGD step twice from the same initial weights w0, with lr L and 2L (the first SGD step
with momentum moves by lr * (g + wd * w0)), so w0 = 2 w_L - w_2L and
g = (w_L - w_2L) / L - wd * w0. The PyTorch trainer's model and loss functions
(bench/pt_trainer.py, written from METHODS.md) then compute the loss and the gradient on the
same batch in float64.

  /usr/bin/python3 bench/grad_parity.py [--method bcl|la] [--ltcl build/ltcl] [--work DIR]
                                        [--src CIFAR10_JPEG_FOLDER] [--steps N]

--steps N also runs N whole-set steps (momentum 0.9, weight decay, 1 warm-up epoch then cosine,
lr --steps-lr) in both trainers from the same weights and prints the per-step losses and the
BatchNorm running statistics' difference at the end (not judged).

Prints both losses and, per parameter tensor, ||g_ltcl - g_pt|| / ||g_pt||. Fails (exit 1)
when a loss differs by more than 1e-5 (relative) or a gradient by more than --tol: ltcl
computes in float32, where BatchNorm over 3 x 256 images alone moves gradients by up to ~1e-2
relative (float32 against float64 in PyTorch itself); a missing or wrong gradient path moves
them by O(1). Tensors whose true gradient is zero (biases of linear layers followed by
BatchNorm) are compared in absolute terms against the largest gradient. Exit 77 when torch is
not importable (the CTest skips).
"""
import argparse
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import pt_trainer as pt  # noqa: E402

# Training images per class: long-tailed, 256 in all, every class present.
COUNTS = [96, 60, 36, 22, 14, 9, 7, 5, 4, 3]


def images(src, seed):
    """uint8 [N,32,32,3] training images and labels (COUNTS per class), plus 2 test images a class."""
    train_y = np.repeat(np.arange(10), COUNTS)
    test_y = np.repeat(np.arange(10), 2)
    if src is None:
        rng = np.random.default_rng(seed)
        # Smooth random images (a random 8x8 field upsampled), so BatchNorm sees image-like
        # statistics rather than white noise.
        def draw(n):
            low = rng.integers(0, 256, size=(n, 8, 8, 3)).astype(np.float64)
            up = low.repeat(4, axis=1).repeat(4, axis=2)
            return np.clip(up + rng.normal(0, 12, size=up.shape), 0, 255).astype(np.uint8)
        return draw(len(train_y)), train_y, draw(len(test_y)), test_y
    from PIL import Image  # only for --src
    classes = sorted(os.listdir(os.path.join(src, "train")))
    out = []
    for split, per in (("train", COUNTS), ("test", [2] * 10)):
        xs = []
        for c, name in enumerate(classes):
            for f in sorted(os.listdir(os.path.join(src, split, name)))[:per[c]]:
                xs.append(np.asarray(Image.open(os.path.join(src, split, name, f)).convert("RGB")))
        out.append(np.stack(xs))
    return out[0], train_y, out[1], test_y


def write_cifar_binary(root, x, y, tx, ty):
    """CIFAR-10's binary format: records of 1 label byte + 3072 bytes (R, G, B planes)."""
    os.makedirs(root, exist_ok=True)

    def records(imgs, labels):
        planes = imgs.transpose(0, 3, 1, 2).reshape(len(imgs), -1)
        return np.concatenate([labels.astype(np.uint8)[:, None], planes], 1).tobytes()
    parts = np.array_split(np.arange(len(y)), 5)
    for b, idx in enumerate(parts, 1):
        with open(os.path.join(root, "data_batch_%d.bin" % b), "wb") as f:
            f.write(records(x[idx], y[idx]))
    with open(os.path.join(root, "test_batch.bin"), "wb") as f:
        f.write(records(tx, ty))


def run_ltcl(ltcl, method, data, out, lr, wd, seed, epochs=1):
    """ltcl for `epochs` epochs of one whole-set step each (1 warm-up epoch when epochs > 1)."""
    cfg = "configs/cifar10_lt/%s.yaml" % method
    views = "[eval,eval,eval]" if method == "bcl" else "[eval]"
    cmd = [ltcl, "train", "--config", cfg, "--out", out, "--threads", "2", "--set",
           "data.dataset=cifar10", "data.root=" + data, "data.profile=none",
           "data.validation=none", "train.select_on=last", "data.views=" + views,
           "train.amp=none", "train.channels_last=false",
           "schedule.kind=cosine", "schedule.epochs=%d" % epochs,
           "schedule.warmup_epochs=%d" % (1 if epochs > 1 else 0),
           "optim.batch_size=%d" % sum(COUNTS), "optim.lr=%g" % lr,
           "optim.weight_decay=%g" % wd, "train.seed=%d" % seed, "model.init=ldam",
           "output.plots=false", "data.workers=0", "train.eval_every=%d" % epochs]
    r = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit("ltcl failed (%d):\n%s" % (r.returncode, r.stdout[-3000:]))
    p_raw, b_raw = pt.ltcl_tensors(os.path.join(out, "last.pt"))
    params = {n: p.double().clone() for n, p in p_raw.items()}
    buffers = {n: b.double().clone() for n, b in b_raw.items()}
    with open(os.path.join(out, "steps.jsonl")) as f:
        steps = [json.loads(line) for line in f]
    return params, steps, buffers


def loss_parts(model, method, xn, yt, log_prior):
    """The PyTorch trainer's loss on the whole set, every view the same images."""
    if method == "bcl":
        logits, z, protos = model.forward_bcl(torch.cat([xn, xn, xn], 0))
        b = len(yt)
        ce = pt.la_ce(logits[:b], yt, log_prior)
        con = pt.bcl_contrastive(z[b:], torch.cat([yt, yt]), protos, torch.arange(10), 0.1)
        return 2.0 * ce + 0.6 * con, {"la_ce": ce.item(), "contrastive": con.item()}
    loss = pt.la_ce(model(xn), yt, log_prior)
    return loss, {"total": loss.item()}


def several_steps(args, data, w0, model, names, xn, yt, log_prior):
    """N steps (momentum, weight decay, 1 warm-up epoch then cosine) in both trainers."""
    n = args.steps
    _, steps, buffers = run_ltcl(args.ltcl, args.method, data,
                                 os.path.join(args.work, "%s_steps%d" % (args.method, n)),
                                 args.steps_lr, args.wd, args.seed, epochs=n)
    with torch.no_grad():
        for p_name, p in model.named_parameters():
            p.copy_(w0[names[p_name]])
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=args.steps_lr, momentum=0.9,
                          weight_decay=args.wd)
    worst = 0.0
    for e in range(n):
        lr = pt.lr_at(args.steps_lr, e, 0, 1, n, 1)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, ours = loss_parts(model, args.method, xn, yt, log_prior)
        rel = max(abs(steps[e][k] - v) / abs(v) for k, v in ours.items())
        worst = max(worst, rel)
        print("step %d  lr %.5f / %.5f  %s  rel %.1e" % (
            e + 1, lr, steps[e]["lr"],
            "  ".join("%s %.5f / %.5f" % (k, v, steps[e][k]) for k, v in ours.items()), rel))
        opt.zero_grad()
        loss.backward()
        opt.step()
    # BatchNorm running statistics after the N steps (PyTorch's momentum 0.1, unbiased var).
    ours_b = {pt.ltcl_name(k): v for k, v in model.state_dict().items() if "running" in k}
    worst_b = max((buffers[k] - v).norm().item() / max(v.norm().item(), 1e-12)
                  for k, v in ours_b.items())
    print("losses over %d steps (PyTorch / ltcl): worst relative difference %.1e; BatchNorm "
          "running statistics: worst %.1e" % (n, worst, worst_b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["bcl", "la"], default="bcl")
    ap.add_argument("--ltcl", default=os.path.join(REPO, "build", "ltcl"))
    ap.add_argument("--src", default=None, help="CIFAR-10 JPEG folder (default: random images)")
    ap.add_argument("--work", default="/tmp/ltcl_grad_parity")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=2e-2)
    ap.add_argument("--steps", type=int, default=1,
                    help="also N whole-set steps in both trainers (printed, not judged: float32 "
                         "rounding grows with every step)")
    ap.add_argument("--steps-lr", type=float, default=0.01)
    args = ap.parse_args()
    torch.set_num_threads(2)
    x, y, tx, ty = images(args.src, args.seed)
    data = os.path.join(args.work, "data")
    write_cifar_binary(data, x, y, tx, ty)
    tag = os.path.join(args.work, args.method)
    w1, steps, _ = run_ltcl(args.ltcl, args.method, data, tag + "_lr1", args.lr, args.wd,
                            args.seed)
    w2, _, _ = run_ltcl(args.ltcl, args.method, data, tag + "_lr2", 2 * args.lr, args.wd,
                        args.seed)
    step = steps[0]
    w0 = {n: 2 * w1[n] - w2[n] for n in w1}
    g_ltcl = {n: (w1[n] - w2[n]) / args.lr - args.wd * w0[n] for n in w1}

    model = pt.Net(10, bcl=args.method == "bcl").double()
    names = {n: pt.ltcl_name(n) for n, _ in model.named_parameters()}
    missing = [n for n, ln in names.items() if ln not in w0]
    if missing or len(names) != len(w0):
        sys.exit("parameters do not correspond: missing %s; ltcl has %d, PyTorch %d"
                 % (missing, len(w0), len(names)))
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(w0[names[n]])
    model.train()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255.0
    yt = torch.from_numpy(y)
    log_prior = torch.log(torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS))
    xn = pt.normalise(xt)
    loss, ours = loss_parts(model, args.method, xn, yt, log_prior)
    loss.backward()

    ok = True
    for k, v in ours.items():
        rel = abs(step[k] - v) / abs(v)
        print("loss %-12s ltcl %.7f  PyTorch %.7f  rel %.1e" % (k, step[k], v, rel))
        ok &= rel <= 1e-5
    scale = max(p.grad.norm().item() for p in model.parameters())
    rows = []
    for n, p in model.named_parameters():
        g, gl = p.grad, g_ltcl[names[n]]
        den = g.norm().item()
        diff = (gl - g).norm().item()
        rel = diff / den if den > 1e-6 * scale else diff / scale
        rows.append((rel, n, den, gl.norm().item()))
    rows.sort(reverse=True)
    print("gradients, largest differences first (%d tensors; |g| < 1e-6 * %.3g compared "
          "against that):" % (len(rows), scale))
    for rel, n, den, nl in rows[:8]:
        print("  %-34s rel %.2e  |g_pt| %.3e  |g_ltcl| %.3e" % (n, rel, den, nl))
    worst = rows[0][0]
    ok &= worst <= args.tol
    print("%s: worst gradient difference %.2e (tol %.0e)" % ("ok" if ok else "FAILED", worst,
                                                             args.tol))
    if args.steps > 1:
        several_steps(args, data, w0, pt.Net(10, bcl=args.method == "bcl").double(), names,
                      xn, yt, log_prior)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
