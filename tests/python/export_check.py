#!/usr/bin/env python3
"""A user's own image folder, end to end: train, export, predict (issue 13).

1. Writes a 3-class folder of PNGs of mixed sizes (24x24 to 96x80, some gray)
   with a train/ and a test/ split, and trains configs/folder/bcl_rcl.yaml on
   it with no key but data.root and the run folder: no long-tail
   subsampling, no size key, no crop error.
2. Deletes the training data, then runs `ltcl export` and `ltcl predict`
   (CSV and JSON, with logits) from the checkpoint alone.
3. Loads the exported file with torch.jit.load (no ltcl involved) and checks
   that its logits on the test images that are already 64x64 (no resizing,
   so both sides see the same pixels) equal `ltcl predict`'s, that
   m.preprocess reproduces ltcl's normalisation, and that the class names,
   input size and probabilities agree.

  /usr/bin/python3 tests/python/export_check.py --ltcl build/ltcl --work DIR
Exit 0: pass; 1: a check failed; 77: skipped (no torch / numpy here).
"""
import argparse
import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

try:
    import numpy as np
    import torch
except ImportError:
    print("skipped: this python3 has no torch / numpy")
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A space and a comma (CSV quoting); ltcl orders classes by folder name.
CLASSES = ["red things", "green", "blue,ish"]
NAMES = sorted(CLASSES)
SIZES = [(64, 64), (24, 24), (96, 80), (40, 56), (64, 64), (33, 71)]


def write_png(path, img):
    """img: HxWx3 or HxW uint8 array -> an 8-bit RGB or gray PNG."""
    h, w = img.shape[:2]
    color = 2 if img.ndim == 3 else 0
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


def make_image(rng, label, size, gray):
    h, w = size
    img = rng.integers(0, 80, size=(h, w, 3))
    img[:, :, label] += 150  # the class is the dominant channel
    img = img.clip(0, 255).astype(np.uint8)
    if gray:
        return img.mean(axis=2).astype(np.uint8)
    return img


def write_folder(root, per_class, rng, gray_every=0):
    paths = []
    for c, name in enumerate(CLASSES):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            size = SIZES[i % len(SIZES)]
            gray = gray_every and i % gray_every == gray_every - 1
            p = os.path.join(root, name, "%03d.png" % i)
            write_png(p, make_image(rng, c, size, gray))
            paths.append((p, c, size))
    return paths


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print("FAILED (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout[-4000:]))
        sys.exit(1)
    return r.stdout


def read_png_rgb(path):
    """The 8-bit RGB / gray PNGs written above, back as HxWx3 (no filters used)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, w, h, color = 8, b"", 0, 0, 2
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, _, color = struct.unpack(">IIBB", body[:10])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    ch = 3 if color == 2 else 1
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, w * ch + 1)
    img = raw[:, 1:].reshape(h, w, ch)
    return np.repeat(img, 3, axis=2) if ch == 1 else img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltcl", default=os.path.join(REPO, "build", "ltcl"))
    ap.add_argument("--work", default=os.path.join(REPO, "build", "export_check"))
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    rng = np.random.default_rng(0)
    data = os.path.join(args.work, "data")
    write_folder(os.path.join(data, "train"), 12, rng, gray_every=5)
    write_folder(os.path.join(data, "test"), 6, rng)
    # The images to predict on live outside the data folder (deleted below).
    new = os.path.join(args.work, "new")
    shutil.copytree(os.path.join(data, "test"), new)

    out = os.path.join(args.work, "run")
    log = run([args.ltcl, "train", "--config", os.path.join(REPO, "configs/folder/bcl_rcl.yaml"),
               "--out", out, "--threads", "2", "--set", "data.root=" + data])
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    counts = [c["train_count"] for c in metrics["per_class"]]
    names = [c["name"] for c in metrics["per_class"]]
    failures = []
    # The folder used as it is: 12 a class, less the 10 % validation hold-out.
    if sorted(set(counts)) != [11] or names != NAMES:
        failures.append("training counts %s of %s: not the folder as it is (12 - 1 held out)"
                        % (counts, names))
    shutil.rmtree(data)  # predict and export need only the checkpoint

    ckpt = os.path.join(out, "best.pt")
    model_file = os.path.join(args.work, "model.ts")
    run([args.ltcl, "export", "--checkpoint", ckpt, "--out", model_file])
    info = json.load(open(model_file + ".json"))
    pred_json = os.path.join(args.work, "pred.json")
    run([args.ltcl, "predict", "--checkpoint", ckpt, "--format", "json", "--logits",
         "--top-k", "3", "--out", pred_json, new])
    pred_csv = os.path.join(args.work, "pred.csv")
    run([args.ltcl, "predict", "--checkpoint", ckpt, "--top-k", "2", "--out", pred_csv, new])
    preds = json.load(open(pred_json))
    rows = list(csv.DictReader(open(pred_csv)))

    m = torch.jit.load(model_file)
    m.eval()
    if list(m.class_names) != NAMES or info["class_names"] != NAMES:
        failures.append("class names %s / %s" % (list(m.class_names), info["class_names"]))
    if list(m.input_size) != [3, 64, 64]:
        failures.append("input_size %s, expected [3, 64, 64]" % list(m.input_size))
    if len(preds) != 3 * 6 or len(rows) != len(preds):
        failures.append("%d JSON / %d CSV predictions for 18 images" % (len(preds), len(rows)))

    worst, compared, agree = 0.0, 0, 0
    mean = torch.tensor(info["preprocessing"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(info["preprocessing"]["std"]).view(1, 3, 1, 1)
    for p, row in zip(preds, rows):
        if row["path"] != p["path"] or row["class_1"] != p["top"][0]["class"]:
            failures.append("CSV and JSON disagree on %s" % p["path"])
        probs = [t["prob"] for t in p["top"]]
        if probs != sorted(probs, reverse=True) or not 0.99 < sum(
                torch.softmax(torch.tensor(p["logits"]), 0).tolist()) < 1.01:
            failures.append("probabilities of %s not sorted / normalised" % p["path"])
        img = read_png_rgb(p["path"])
        if img.shape[:2] != (64, 64):
            continue  # resized by ltcl: different pixels from a Python resize
        x_u8 = torch.from_numpy(img.copy()).unsqueeze(0)
        x = m.preprocess(x_u8)
        manual = (x_u8.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        if not torch.allclose(x, manual, atol=1e-6):
            failures.append("preprocess differs from (v / 255 - mean) / std")
        with torch.no_grad():
            logits = m(x)[0]
        want = torch.tensor(p["logits"])
        # Float rounding only: relative to the logits' size.
        worst = max(worst, ((logits - want).abs() / want.abs().clamp_min(1.0)).max().item())
        compared += 1
        agree += int(NAMES[int(logits.argmax())] == p["top"][0]["class"])
        emb = m.embeddings(x)
        if abs(emb.norm().item() - 1.0) > 1e-5:
            failures.append("embeddings not unit length")
    print("compared %d 64x64 images: worst relative logit difference %.2e, top-1 agreement %d/%d"
          % (compared, worst, agree, compared))
    if compared < 3 or worst > 1e-5 or agree != compared:
        failures.append("exported logits differ from ltcl predict's (worst %.2e over %d)"
                        % (worst, compared))
    acc = sum(int(r["class_1"] == os.path.basename(os.path.dirname(r["path"]))) for r in rows)
    print("ltcl predict top-1 on the 18 new images: %d/18 (chance 6)" % acc)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
