#!/usr/bin/python3
"""Independent plain-PyTorch reference trainer for CIFAR-10-LT (LA and BCL).

Written from docs/METHODS.md (sections 1-4) only, without looking at ltcl's C++
sources, so that its accuracies and losses can be compared with ltcl's.

Run with Debian's torch (CPU):  /usr/bin/python3 bench/pt_trainer.py --method bcl --out run.json
Needs Debian's python3-pil (JPEG decoding, once; then a .npy cache under /tmp). No torchvision:
the augmentations are written here with torch ops.

Choices where METHODS.md (or the brief) leaves room:
- LR schedule: S = full steps per epoch (floor(n/B), drop_last) even with --limit-steps, so a
  smoke run's step k has the LR a full run's step k has.
- BCL: projection head on all 3B features (one pass; its BN sees all views), only views 1-2 used
  as anchors; head_fc's BN normalises over the C weight rows (batch statistics in train mode).
- --init ldam: kaiming_normal_ on every conv and linear weight of the whole model, heads included.
- --init-from CKPT: start from the parameters of an ltcl checkpoint (a TorchScript archive whose
  parameters are named model.<module path>), so that both trainers start from the same weights.
- Weight decay on every parameter (BN, biases, heads).
- Contrastive: D_i sums over all keys but i (positives included); the class count in w_ik counts
  K itself (anchor i and the prototype included); the mean runs over all anchors, anchors with no
  positive adding 0 (with prototypes every anchor has a positive).
- RandomCrop pads with 0 in [0,1] pixel space (black, before normalisation). RandomResizedCrop
  uses torchvision's box sampling (10 tries, then the whole image) and bilinear resampling of the
  whole image (grid_sample, border clamp; boxes are <= 32 so it only upsamples): the outermost
  samples can blend half a pixel across the box edge, where PIL crops first.
- ColorJitter: torchvision's tensor semantics (float contrast mean, float HSV hue), factors
  uniform, op order a random permutation per image. Grayscale: 0.299 R + 0.587 G + 0.114 B.
- Shot groups: mean of per-class accuracies (equal to pooled accuracy on a balanced test set).
- img/s: training images (not views) per second of training time, augmentation included.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


# ----------------------------------------------------------------------------- data

def list_split(root, split):
    """(paths, labels, class names): classes = sub-folders sorted by name, files sorted by name."""
    base = os.path.join(root, split)
    classes = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    paths, labels = [], []
    for c, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(base, name))
                       if f.lower().endswith((".jpg", ".jpeg", ".png")))
        paths += [os.path.join(base, name, f) for f in files]
        labels += [c] * len(files)
    return paths, np.asarray(labels, dtype=np.int64), classes


def load_split(root, split):
    """Decode a split once into uint8 [N,32,32,3]; cached as .npy under /tmp keyed by the path."""
    paths, labels, classes = list_split(root, split)
    key = hashlib.sha1(os.path.realpath(root).encode()).hexdigest()[:16]
    cache = "/tmp/pt_trainer_%s_%s_%d.npy" % (key, split, len(paths))
    if os.path.exists(cache):
        images = np.load(cache)
        if images.shape[0] == len(paths):
            return images, labels, classes
    try:
        from PIL import Image
    except ImportError:
        sys.exit("pt_trainer: PIL is needed to decode the JPEGs once: apt-get install python3-pil")
    images = np.empty((len(paths), 32, 32, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            images[i] = np.asarray(im.convert("RGB"))
    tmp = cache + ".%d.tmp.npy" % os.getpid()
    np.save(tmp, images)
    os.replace(tmp, cache)
    return images, labels, classes


def lt_counts(n_max, num_classes, imbalance):
    """Exponential profile: n_c = floor(n_max * (1/IF)^(c/(C-1))), computed as the reference does."""
    f = 1.0 / imbalance
    return [int(n_max * (f ** (c / (num_classes - 1.0)))) for c in range(num_classes)]


def lt_indices(labels, imbalance, num_classes):
    """Indices of the LT subset: per class in order, shuffle (legacy NumPy, seeded 0 once), keep n_c."""
    n_max = len(labels) // num_classes
    counts = lt_counts(n_max, num_classes, imbalance)
    np.random.seed(0)
    keep = []
    for c in range(num_classes):
        idx = np.where(labels == c)[0]
        np.random.shuffle(idx)
        keep.append(idx[:counts[c]])
    return np.concatenate(keep), counts


# ----------------------------------------------------------------------------- augmentation
# All ops work on float [B,3,32,32] tensors in [0,1]; random parameters come from a NumPy
# Generator; the pixel work is vectorised over the batch.

def normalise(x):
    mean = torch.tensor(CIFAR_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def weak_view(x, rng):
    """RandomCrop(32, padding=4, zero fill) + horizontal flip p 0.5."""
    b, _, h, w = x.shape
    xp = F.pad(x, (4, 4, 4, 4))
    oy = torch.from_numpy(rng.integers(0, 9, size=b))
    ox = torch.from_numpy(rng.integers(0, 9, size=b))
    flip = torch.from_numpy(rng.random(b) < 0.5)
    ar = torch.arange(w)
    rows = oy[:, None] + torch.arange(h)[None, :]                              # [B,H]
    cols = torch.where(flip[:, None], ox[:, None] + (w - 1 - ar)[None, :], ox[:, None] + ar[None, :])
    bi = torch.arange(b)[:, None, None, None]
    ci = torch.arange(3)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def rrc_params(b, rng, size=32, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), tries=10):
    """RandomResizedCrop boxes (torchvision's sampling rule): up to 10 tries, else the whole image."""
    area = float(size * size)
    ta = area * rng.uniform(scale[0], scale[1], size=(b, tries))
    ar = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(b, tries)))
    cw = np.rint(np.sqrt(ta * ar)).astype(np.int64)
    ch = np.rint(np.sqrt(ta / ar)).astype(np.int64)
    ok = (cw > 0) & (cw <= size) & (ch > 0) & (ch <= size)
    first = np.argmax(ok, axis=1)
    any_ok = ok.any(axis=1)
    r = np.arange(b)
    w = np.where(any_ok, cw[r, first], size)
    h = np.where(any_ok, ch[r, first], size)
    u = rng.random((b, 2))
    i = np.floor(u[:, 0] * (size - h + 1)).astype(np.int64)     # top, uniform in 0..size-h
    j = np.floor(u[:, 1] * (size - w + 1)).astype(np.int64)     # left
    return i, j, h, w


def resized_crop_flip(x, i, j, h, w, flip):
    """Bilinear resize of box (top i, left j, h x w) to the full size, optional h-flip, batched."""
    b, _, H, W = x.shape
    sx = torch.from_numpy(w / W).to(x.dtype)
    sy = torch.from_numpy(h / H).to(x.dtype)
    tx = torch.from_numpy((2 * j + w) / W - 1.0).to(x.dtype)
    ty = torch.from_numpy((2 * i + h) / H - 1.0).to(x.dtype)
    sgn = torch.from_numpy(np.where(flip, -1.0, 1.0)).to(x.dtype)
    theta = torch.zeros(b, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = sx * sgn
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, (b, 3, H, W), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gray(x):
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def rgb_to_hsv(x):
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc = x.max(dim=1).values
    minc = x.min(dim=1).values
    v = maxc
    cr = maxc - minc
    s = cr / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    crd = torch.where(cr > 0, cr, torch.ones_like(cr))
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    is_r = maxc == r
    is_g = (maxc == g) & ~is_r
    is_b = ~is_r & ~is_g
    hh = is_r * (bc - gc) + is_g * (2.0 + rc - bc) + is_b * (4.0 + gc - rc)
    hh = torch.remainder(hh / 6.0, 1.0)
    return hh, s, v


def hsv_to_rgb(hh, s, v):
    h6 = hh * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = torch.remainder(i, 6).long()
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    table = torch.stack([
        torch.stack([v, q, p, p, t, v], 0),     # r for sector 0..5
        torch.stack([t, v, v, q, p, p], 0),     # g
        torch.stack([p, p, t, v, v, q], 0),     # b
    ], 0)                                       # [3,6,B,H,W]
    idx = i.unsqueeze(0).unsqueeze(0).expand(3, 1, *i.shape)
    return table.gather(1, idx).squeeze(1).permute(1, 0, 2, 3)


def jitter_op(x, op, f):
    """One ColorJitter op with per-image factors f [n] (torchvision tensor semantics)."""
    fv = f.view(-1, 1, 1, 1)
    if op == 0:                                             # brightness
        return (x * fv).clamp(0, 1)
    if op == 1:                                             # contrast: blend with mean gray level
        m = gray(x).mean(dim=(1, 2, 3), keepdim=True)
        return (fv * x + (1 - fv) * m).clamp(0, 1)
    if op == 2:                                             # saturation: blend with grayscale
        return (fv * x + (1 - fv) * gray(x)).clamp(0, 1)
    hh, s, v = rgb_to_hsv(x)                                # hue shift
    hh = torch.remainder(hh + f.view(-1, 1, 1), 1.0)
    return hsv_to_rgb(hh, s, v).clamp(0, 1)


def color_jitter(x, rng, p=0.8, bri=0.4, con=0.4, sat=0.4, hue=0.1):
    """RandomApply(ColorJitter(bri, con, sat, hue), p): 4 ops in a random order per image."""
    b = x.shape[0]
    apply = rng.random(b) < p
    fac = np.stack([rng.uniform(1 - bri, 1 + bri, b), rng.uniform(1 - con, 1 + con, b),
                    rng.uniform(1 - sat, 1 + sat, b), rng.uniform(-hue, hue, b)], 1)
    order = np.argsort(rng.random((b, 4)), axis=1)          # a random permutation per image
    fac_t = torch.from_numpy(fac).to(x.dtype)
    x = x.clone()
    for pos in range(4):
        for op in range(4):
            sel = np.nonzero(apply & (order[:, pos] == op))[0]
            if sel.size:
                st = torch.from_numpy(sel)
                x[st] = jitter_op(x[st], op, fac_t[st, op])
    return x


def simclr_view(x, rng):
    """RandomResizedCrop(32, (0.08,1), (3/4,4/3)) + flip + ColorJitter p .8 + RandomGrayscale p .2."""
    b = x.shape[0]
    i, j, h, w = rrc_params(b, rng)
    flip = rng.random(b) < 0.5
    x = resized_crop_flip(x, i, j, h, w, flip)
    x = color_jitter(x, rng)
    g = torch.from_numpy(rng.random(b) < 0.2)
    return torch.where(g.view(-1, 1, 1, 1), gray(x).expand(-1, 3, -1, -1), x)


# ----------------------------------------------------------------------------- model

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.subsample = stride != 1 or cin != cout
        self.pad = cout - cin

    def shortcut(self, x):
        # option A: stride-2 subsample, zero-pad the new channels half before and half after
        if not self.subsample:
            return x
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet32(nn.Module):
    """CIFAR ResNet-32 (3 stages x 5 BasicBlocks, 16/32/64 ch, option-A shortcuts) -> 64-d feature."""

    def __init__(self, blocks=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.feat_dim = 64

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return x.mean(dim=(2, 3))


def mlp_head(d_in=64, hidden=512, d_out=128):
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, d_out))


class Net(nn.Module):
    def __init__(self, num_classes=10, bcl=False):
        super().__init__()
        self.backbone = ResNet32()
        self.fc = nn.Linear(self.backbone.feat_dim, num_classes)
        self.bcl = bcl
        if bcl:
            self.head = mlp_head(self.backbone.feat_dim)
            self.head_fc = mlp_head(self.backbone.feat_dim)

    def forward(self, x):
        return self.fc(self.backbone(x))

    def forward_bcl(self, x):
        """All views in one pass: logits [N,C], normalised embeddings [N,128], prototypes [C,128]."""
        f = self.backbone(x)
        logits = self.fc(f)
        z = F.normalize(self.head(f), dim=1)
        protos = F.normalize(self.head_fc(self.fc.weight), dim=1)
        return logits, z, protos


def init_ldam(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)           # fan_in, gain sqrt(2)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def ltcl_name(name):
    """This file's parameter name -> the name in an ltcl checkpoint."""
    parts = name.split(".")
    if parts[0] == "backbone" and parts[1] == "layers":
        block = int(parts[2])
        return "model.backbone.layer%d.%d.%s" % (block // 5 + 1, block % 5, ".".join(parts[3:]))
    if parts[0] == "fc":
        return "model.linear." + parts[1]
    mlp = {"0": "fc1", "1": "bn", "3": "fc2"}
    if parts[0] == "head":
        return "model.head.%s.%s" % (mlp[parts[1]], parts[2])
    if parts[0] == "head_fc":
        return "model.head_fc.mlp.%s.%s" % (mlp[parts[1]], parts[2])
    return "model." + name


def ltcl_tensors(path):
    """An ltcl checkpoint's parameters and buffers as {"model.<name>": tensor}
    (python/ltcl_checkpoint.py: ltcl's format 2, read without ltcl)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import ltcl_checkpoint
    ck = ltcl_checkpoint.load(path, as_torch=True)
    params = {"model." + k.split("/", 1)[1]: v for k, v in ck.records.items()
              if k.startswith("param/")}
    buffers = {"model." + k.split("/", 1)[1]: v for k, v in ck.records.items()
               if k.startswith("buffer/")}
    return params, buffers


def load_ltcl_parameters(model, path):
    """Copy every parameter (not the BatchNorm buffers) from an ltcl checkpoint; all must exist."""
    src = ltcl_tensors(path)[0]
    with torch.no_grad():
        for n, p in model.named_parameters():
            q = src.get(ltcl_name(n))
            if q is None or q.shape != p.shape:
                sys.exit("%s: no parameter %s of shape %s" % (path, ltcl_name(n), tuple(p.shape)))
            p.copy_(q)


# ----------------------------------------------------------------------------- losses

def la_ce(logits, y, log_prior, tau=1.0):
    return F.cross_entropy(logits + tau * log_prior, y)


def bcl_contrastive(z, y, protos=None, proto_labels=None, tau=0.1, class_averaging=True):
    """BCL contrastive loss (METHODS.md section 3, s = 1, b = 0, m = 0).

    Anchors: the rows of z (labels y). Keys: z plus the prototypes (keys only, never anchors).
    l_ik = z_i.k_k / tau; P(i) = keys of label y_i other than i itself;
    D_i = sum_{k != i} w_ik exp(l_ik), w_ik = 1/(#keys of class y_k - [y_k == y_i]) (or 1);
    L_i = -mean_{p in P(i)} (l_ip - log D_i); anchors with empty P(i) give 0; mean over anchors.
    """
    n = z.shape[0]
    if protos is not None:
        keys = torch.cat([z, protos], 0)
        klab = torch.cat([y, proto_labels], 0)
    else:
        keys, klab = z, y
    logits = z @ keys.t() / tau                                         # [N,K]
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(n), torch.arange(n)] = True
    same = y[:, None] == klab[None, :]
    pos = same & ~self_mask
    if class_averaging:
        counts = torch.bincount(klab, minlength=int(max(int(y.max()), int(klab.max())) + 1))
        w = counts[klab].to(logits.dtype)[None, :] - same.to(logits.dtype)
        log_w = -torch.log(w.clamp(min=1.0))       # w is 0 only at self when y_i has no other key
    else:
        log_w = torch.zeros_like(logits)
    neg_inf = torch.finfo(logits.dtype).min
    masked = logits.masked_fill(self_mask, neg_inf)
    row_max = masked.max(dim=1, keepdim=True).values.detach()
    shifted = logits - row_max                                           # stable: exp <= 1 (w <= 1)
    terms = torch.exp((shifted + log_w).masked_fill(self_mask, float("-inf")))   # self: exactly 0
    denom = terms.sum(dim=1, keepdim=True)
    log_prob = shifted - torch.log(denom)
    npos = pos.sum(dim=1)
    per_anchor = -(log_prob * pos).sum(dim=1) / npos.clamp(min=1)
    per_anchor = torch.where(npos > 0, per_anchor, torch.zeros_like(per_anchor))
    return per_anchor.mean()


# ----------------------------------------------------------------------------- schedule

def lr_at(base, epoch, step, steps, epochs, warmup):
    if epoch < warmup:
        return base * (epoch * steps + step + 1) / (warmup * steps)
    t = (epoch - warmup) * steps + step
    total = (epochs - warmup) * steps
    if total <= 0:
        return base
    return max(0.0, base * (1 + math.cos(math.pi * t / total)) / 2)


# ----------------------------------------------------------------------------- evaluation

def evaluate(model, images, labels, counts, batch=1000):
    model.eval()
    num_classes = len(counts)
    correct = np.zeros(num_classes)
    total = np.zeros(num_classes)
    with torch.no_grad():
        for s in range(0, len(labels), batch):
            x = normalise(images[s:s + batch].float() / 255.0)
            pred = model(x).argmax(dim=1).numpy()
            y = labels[s:s + batch]
            np.add.at(total, y, 1)
            np.add.at(correct, y, pred == y)
    model.train()
    per_class = correct / np.maximum(total, 1)
    groups = {"many": [c for c in range(num_classes) if counts[c] > 100],
              "medium": [c for c in range(num_classes) if 20 <= counts[c] <= 100],
              "few": [c for c in range(num_classes) if counts[c] < 20]}
    out = {"top1": 100.0 * correct.sum() / total.sum(),
           "per_class": [100.0 * a for a in per_class]}
    for g, cls in groups.items():
        out[g] = 100.0 * float(np.mean(per_class[cls])) if cls else None
    return out


# ----------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", choices=["la", "bcl"], required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["ldam", "pytorch"], default="ldam")
    ap.add_argument("--init-from", default=None, help="start from an ltcl checkpoint's parameters")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "datasets", "cifar10-jpeg"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.15)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--imbalance", type=float, default=100)
    ap.add_argument("--alpha", type=float, default=2.0, help="BCL weight of the LA-CE term")
    ap.add_argument("--beta", type=float, default=0.6, help="BCL weight of the contrastive term")
    ap.add_argument("--tau", type=float, default=0.1, help="BCL contrastive temperature")
    ap.add_argument("--limit-steps", type=int, default=None)
    ap.add_argument("--eval-limit", type=int, default=None)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t0 = time.time()
    tr_img, tr_lab, classes = load_split(args.data, "train")
    te_img, te_lab, _ = load_split(args.data, "test")
    num_classes = len(classes)
    keep, _ = lt_indices(tr_lab, args.imbalance, num_classes)
    if num_classes == 10 and args.imbalance == 100 and len(tr_lab) == 50000:
        assert len(keep) == 12406, len(keep)
    tr_img, tr_lab = tr_img[keep], tr_lab[keep]
    counts = np.bincount(tr_lab, minlength=num_classes)
    if args.eval_limit is not None:
        sel = np.concatenate([np.where(te_lab == c)[0][:args.eval_limit] for c in range(num_classes)])
        te_img, te_lab = te_img[sel], te_lab[sel]
    train_x = torch.from_numpy(tr_img).permute(0, 3, 1, 2).contiguous()       # uint8 [N,3,32,32]
    train_y = torch.from_numpy(tr_lab)
    test_x = torch.from_numpy(te_img).permute(0, 3, 1, 2).contiguous()
    log_prior = torch.log(torch.from_numpy(counts / counts.sum()).float())
    print("data: %d train (counts %s), %d test, loaded in %.1f s"
          % (len(tr_lab), counts.tolist(), len(te_lab), time.time() - t0), flush=True)

    bcl = args.method == "bcl"
    model = Net(num_classes, bcl=bcl)
    if args.init == "ldam":
        init_ldam(model)
    if args.init_from:
        load_ltcl_parameters(model, args.init_from)
    n_params = sum(p.numel() for p in model.parameters())
    n_params_cls = sum(p.numel() for p in model.backbone.parameters()) + \
        sum(p.numel() for p in model.fc.parameters())
    print("model: ResNet-32 %d parameters (backbone+fc %d), init %s, threads %d"
          % (n_params, n_params_cls, args.init_from or args.init, torch.get_num_threads()),
          flush=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=False,
                          weight_decay=args.wd)
    proto_labels = torch.arange(num_classes)

    n = len(tr_lab)
    steps_full = n // args.batch                  # S of the LR schedule (drop_last)
    steps = steps_full                            # steps actually run per epoch
    if args.limit_steps is not None:              # smoke tests stop early; the schedule is not
        steps = min(steps, args.limit_steps)      # compressed, so step k has a full run's LR
    history = []
    step_log = []          # [epoch, step, lr, la_ce, con] per step, for step-by-step comparisons
    model.train()
    for epoch in range(args.epochs):
        perm = torch.from_numpy(rng.permutation(n))
        ce_sum = con_sum = loss_sum = 0.0
        t_ep = time.time()
        lr = args.lr
        for step in range(steps):
            lr = lr_at(args.lr, epoch, step, steps_full, args.epochs, args.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[step * args.batch:(step + 1) * args.batch]
            x = train_x[idx].float() / 255.0
            y = train_y[idx]
            if bcl:
                views = torch.cat([normalise(weak_view(x, rng)), normalise(simclr_view(x, rng)),
                                   normalise(simclr_view(x, rng))], 0)
                logits, z, protos = model.forward_bcl(views)
                b = y.shape[0]
                ce = la_ce(logits[:b], y, log_prior)
                con = bcl_contrastive(z[b:], torch.cat([y, y]), protos, proto_labels, args.tau)
                loss = args.alpha * ce + args.beta * con
                con_sum += con.item()
            else:
                logits = model(normalise(weak_view(x, rng)))
                ce = la_ce(logits, y, log_prior)
                loss = ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ce_sum += ce.item()
            loss_sum += loss.item()
            step_log.append([epoch + 1, step, lr, ce.item(), con.item() if bcl else None])
            if not math.isfinite(loss.item()):
                sys.exit("non-finite loss at epoch %d step %d" % (epoch, step))
        train_s = time.time() - t_ep
        t_ev = time.time()
        ev = evaluate(model, test_x, te_lab, counts)
        rec = {"epoch": epoch + 1, "steps": steps, "lr_last": lr,
               "train_la_ce": ce_sum / steps, "train_loss": loss_sum / steps,
               "train_con": con_sum / steps if bcl else None,
               "train_s": train_s, "img_per_s": steps * args.batch / train_s,
               "eval_s": time.time() - t_ev}
        rec.update(ev)
        history.append(rec)
        fmt = lambda v: "-" if v is None else "%.2f" % v
        print("epoch %d/%d  lr %.4f  la_ce %.4f%s  loss %.4f  %.1f img/s  top1 %.2f  "
              "many %s  med %s  few %s  (train %.1f s, eval %.1f s)"
              % (epoch + 1, args.epochs, lr, rec["train_la_ce"],
                 "  con %.4f" % rec["train_con"] if bcl else "", rec["train_loss"],
                 rec["img_per_s"], ev["top1"], fmt(ev["many"]), fmt(ev["medium"]),
                 fmt(ev["few"]), train_s, rec["eval_s"]), flush=True)

    if args.out:
        res = {"args": vars(args), "torch": torch.__version__, "train_size": n,
               "class_counts": counts.tolist(), "test_size": int(len(te_lab)),
               "params": n_params, "params_backbone_fc": n_params_cls, "epochs": history,
               "step_log_fields": ["epoch", "step", "lr", "la_ce", "con"], "step_log": step_log}
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.replace(tmp, args.out)
    return history


if __name__ == "__main__":
    main()
