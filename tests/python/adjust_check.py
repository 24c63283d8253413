#!/usr/bin/env python3
"""Evaluation-time logit transforms end to end (issue 26, item 1).

Post-hoc logit adjustment and tau-normalisation must give the same logits
wherever a model is used. On a long-tailed 3-class folder of PNGs:
1. trains configs/folder/ce.yaml with model.adjust=posthoc_la, a few epochs;
2. the training report (metrics.json), `ltcl eval`, `ltcl predict` and the
   model written by `ltcl export` (run with torch.jit.load, no ltcl) must
   agree: eval's top-1 equals the report's, predict's top-1 on the same test
   images equals it, the exported forward equals predict's logits;
3. against an independent reference computed here: predict's adjusted
   logits equal its `--adjust none` logits minus log(pi + 1e-12), pi the
   training class frequencies of the report; `--adjust tau_norm
   --adjust-tau 0.5` equals features . (W / ||W||^0.5)^T computed in
   PyTorch from the exported model's features and classifier weight, and
   the model exported with the same options computes the same;
4. a bad --adjust is refused naming the option.

  /usr/bin/python3 tests/python/adjust_check.py --ltcl build/ltcl --work DIR
Exit 0: pass; 1: a check failed; 77: skipped (no torch / numpy here).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("skipped: this python3 has no torch / numpy")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_check import make_image, read_png_rgb, write_png  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ["a_head", "b_mid", "c_tail"]
TRAIN = [40, 12, 5]  # long-tailed
TEST = 8


def write_split(root, counts, rng):
    for c, (name, n) in enumerate(zip(NAMES, counts)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(n):
            # Noisy images (the class channel only slightly brighter), so the
            # few-epoch model is unsure and the prior moves its decisions.
            img = make_image(rng, c, (64, 64), False).astype(np.int32)
            img = img - 100 * (np.arange(3) == c) + rng.integers(0, 90, size=img.shape)
            write_png(os.path.join(root, name, "%03d.png" % i),
                      img.clip(0, 255).astype(np.uint8))


def run(cmd, ok=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if ok and r.returncode != 0:
        print("FAILED (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout[-4000:]))
        sys.exit(1)
    return r


def predict(ltcl, ckpt, images, out, *extra):
    run([ltcl, "predict", "--checkpoint", ckpt, "--format", "json", "--logits",
         "--top-k", "1", "--out", out, images, *extra])
    rows = json.load(open(out))
    return ([r["path"] for r in rows],
            torch.tensor([r["logits"] for r in rows], dtype=torch.float64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltcl", default=os.path.join(REPO, "build", "ltcl"))
    ap.add_argument("--work", default=os.path.join(REPO, "build", "adjust_check"))
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    rng = np.random.default_rng(1)
    data = os.path.join(args.work, "data")
    write_split(os.path.join(data, "train"), TRAIN, rng)
    write_split(os.path.join(data, "test"), [TEST] * 3, rng)

    out = os.path.join(args.work, "run")
    run([args.ltcl, "train", "--config", os.path.join(REPO, "configs/folder/ce.yaml"),
         "--out", out, "--threads", "2", "--set", "data.root=" + data,
         "model.adjust=posthoc_la", "schedule.epochs=3", "schedule.warmup_epochs=0",
         "output.plots=false"])
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    counts = [c["train_count"] for c in metrics["per_class"]]
    report_top1 = metrics["top1"]  # the selected checkpoint on metrics["split"]
    if metrics["split"] != "test":
        print("FAILED: metrics.json reports split %s" % metrics["split"])
        return 1
    ckpt = os.path.join(out, "best.pt")
    failures = []

    # ltcl eval: the same checkpoint, the same test split.
    ev = json.loads(run([args.ltcl, "eval", "--checkpoint", ckpt, "--json"]).stdout
                    .strip().splitlines()[-1])
    if abs(ev["top1"] - report_top1) > 1e-9:
        failures.append("ltcl eval top-1 %.6f, training report %.6f" % (ev["top1"], report_top1))

    # ltcl predict on the test images: its argmax gives the report's top-1.
    test = os.path.join(data, "test")
    paths, adjusted = predict(args.ltcl, ckpt, test, os.path.join(args.work, "p_la.json"))
    labels = torch.tensor([NAMES.index(os.path.basename(os.path.dirname(p))) for p in paths])
    pred_top1 = 100.0 * (adjusted.argmax(1) == labels).double().mean().item()
    if abs(pred_top1 - report_top1) > 1e-6:
        failures.append("predict's top-1 %.4f, report %.4f" % (pred_top1, report_top1))

    # The independent reference: raw logits - log(pi + 1e-12).
    _, raw = predict(args.ltcl, ckpt, test, os.path.join(args.work, "p_raw.json"),
                     "--adjust", "none")
    pi = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    want = raw - torch.log(pi + 1e-12)
    worst_la = (adjusted - want).abs().max().item()
    if worst_la > 1e-4:
        failures.append("posthoc_la logits differ from raw - log(pi) by %.2e" % worst_la)
    # eval's NLL is computed from its logits: equal to the NLL of predict's
    # adjusted logits (and not of the raw ones) when both apply the prior.
    nll = lambda z: -torch.log_softmax(z, 1)[torch.arange(len(labels)), labels].mean().item()
    nll_eval, nll_report = ev["calibration"]["nll"], metrics["calibration"]["nll"]
    if abs(nll_eval - nll(adjusted)) > 1e-4 * max(1.0, nll_eval) or abs(nll_eval - nll_report) > 1e-9:
        failures.append("NLL: eval %.6f, report %.6f, predict's adjusted logits %.6f (raw %.6f)"
                        % (nll_eval, nll_report, nll(adjusted), nll(raw)))
    flips = int((adjusted.argmax(1) != raw.argmax(1)).sum())
    print("counts %s; report / eval / predict top-1 %.2f / %.2f / %.2f; NLL eval %.4f, "
          "adjusted %.4f, raw %.4f; posthoc_la vs reference %.1e; %d of %d decisions moved "
          "by the prior" % (counts, report_top1, ev["top1"], pred_top1, nll_eval, nll(adjusted),
                            nll(raw), worst_la, flips, len(paths)))

    # The exported model: forward = predict's adjusted logits, and says so.
    model_la = os.path.join(args.work, "la.ts")
    run([args.ltcl, "export", "--checkpoint", ckpt, "--out", model_la])
    m = torch.jit.load(model_la)
    if m.logit_adjust != "posthoc_la (tau 1)":
        failures.append("exported logit_adjust '%s'" % m.logit_adjust)
    if json.load(open(model_la + ".json")).get("logit_adjust") != "posthoc_la (tau 1)":
        failures.append("export's JSON does not name the transform")
    x = torch.cat([m.preprocess(torch.from_numpy(read_png_rgb(p).copy()).unsqueeze(0))
                   for p in paths])
    with torch.no_grad():
        exported = m(x).double()
    worst_export = (exported - adjusted).abs().max().item()
    if worst_export > 1e-4:
        failures.append("exported logits differ from predict's by %.2e" % worst_export)

    # tau_norm through the override, against features . (W / ||W||^0.5)^T.
    _, tn = predict(args.ltcl, ckpt, test, os.path.join(args.work, "p_tn.json"),
                    "--adjust", "tau_norm", "--adjust-tau", "0.5")
    with torch.no_grad():
        f = m.features(x).double()
        w = m.linear_weight.double()
        want_tn = f @ (w / w.norm(dim=1, keepdim=True) ** 0.5).t()
    worst_tn = (tn - want_tn).abs().max().item()
    if worst_tn > 1e-4:
        failures.append("tau_norm logits differ from the reference by %.2e" % worst_tn)
    model_tn = os.path.join(args.work, "tn.ts")
    run([args.ltcl, "export", "--checkpoint", ckpt, "--out", model_tn,
         "--adjust", "tau_norm", "--adjust-tau", "0.5"])
    m_tn = torch.jit.load(model_tn)
    with torch.no_grad():
        worst_tn_export = (m_tn(x).double() - tn).abs().max().item()
    if m_tn.logit_adjust != "tau_norm (tau 0.5, no bias)" or worst_tn_export > 1e-4:
        failures.append("tau_norm export: '%s', %.2e from predict"
                        % (m_tn.logit_adjust, worst_tn_export))
    print("tau_norm 0.5 vs reference %.1e, exported %.1e" % (worst_tn, worst_tn_export))

    bad = run([args.ltcl, "eval", "--checkpoint", ckpt, "--adjust", "posthoc"], ok=False)
    if bad.returncode == 0 or "--adjust" not in bad.stdout:
        failures.append("--adjust posthoc: exit %d, output %r" % (bad.returncode, bad.stdout[-300:]))

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
