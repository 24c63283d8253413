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
4. `ltcl adjust` chooses tau on the validation set: each value of its
   sweep equals `ltcl eval --split val` with that tau, its checkpoint
   evaluates as the override does, and without a validation set it refuses
   (tau is never chosen on the test set);
5. a bad --adjust is refused naming the option.

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

    # --split val evaluates the validation set training held out: the
    # report's val block (the same checkpoint) says the same.
    ev_v = json.loads(run([args.ltcl, "eval", "--checkpoint", ckpt, "--split", "val", "--json"])
                      .stdout.strip().splitlines()[-1])
    if (ev_v["samples"], ev_v["top1"]) != (metrics["val"]["samples"], metrics["val"]["top1"]):
        failures.append("ltcl eval --split val: %d images, top-1 %.4f; the report's val: %d, %.4f"
                        % (ev_v["samples"], ev_v["top1"], metrics["val"]["samples"],
                           metrics["val"]["top1"]))

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

    # ltcl adjust: tau chosen on the validation set, written into a new
    # checkpoint that eval applies. Each sweep value equals ltcl eval on
    # the validation split with that tau (a separate path through the code).
    auto_ckpt = os.path.join(args.work, "tn_auto.pt")
    sweep = json.loads(run([args.ltcl, "adjust", "--checkpoint", ckpt, "--adjust", "tau_norm",
                            "--json", "--out", auto_ckpt]).stdout.strip().splitlines()[-1])
    taus = [r["tau"] for r in sweep["sweep"]]
    values = [r["mean_class"] for r in sweep["sweep"]]
    if taus != [k / 10 for k in range(21)] or sweep["tau"] != taus[values.index(max(values))]:
        failures.append("adjust sweep: taus %s, chosen %s for values %s" % (taus, sweep["tau"], values))
    for k in sorted({values.index(max(values)), 10, 0}):
        ev_val = json.loads(run([args.ltcl, "eval", "--checkpoint", ckpt, "--split", "val", "--json",
                                 "--adjust", "tau_norm", "--adjust-tau", str(taus[k])])
                            .stdout.strip().splitlines()[-1])
        if abs(ev_val["mean_class"] - values[k]) > 1e-9:
            failures.append("tau %g: sweep %.4f, ltcl eval --split val %.4f"
                            % (taus[k], values[k], ev_val["mean_class"]))
    ev_auto = json.loads(run([args.ltcl, "eval", "--checkpoint", auto_ckpt, "--json"])
                         .stdout.strip().splitlines()[-1])
    ev_same = json.loads(run([args.ltcl, "eval", "--checkpoint", ckpt, "--json", "--adjust",
                              "tau_norm", "--adjust-tau", repr(sweep["tau"])])
                         .stdout.strip().splitlines()[-1])
    if ev_auto["calibration"]["nll"] != ev_same["calibration"]["nll"] or ev_auto["top1"] != ev_same["top1"]:
        failures.append("the adjusted checkpoint evaluates to %.6f / %.6f, the override to %.6f / %.6f"
                        % (ev_auto["top1"], ev_auto["calibration"]["nll"], ev_same["top1"],
                           ev_same["calibration"]["nll"]))
    print("tau_norm chosen on val: tau %g (mean per-class %.2f; tau 1: %.2f)"
          % (sweep["tau"], max(values), values[10]))
    # Without a validation set tau cannot be chosen (never on test).
    out_nv = os.path.join(args.work, "run_noval")
    run([args.ltcl, "train", "--config", os.path.join(REPO, "configs/folder/ce.yaml"),
         "--out", out_nv, "--threads", "2", "--set", "data.root=" + data,
         "data.validation=none", "train.select_on=test", "schedule.epochs=1",
         "schedule.warmup_epochs=0", "output.plots=false"])
    nv_ckpt = os.path.join(out_nv, "last.pt")
    nv = run([args.ltcl, "adjust", "--checkpoint", nv_ckpt, "--adjust",
              "posthoc_la", "--out", os.path.join(args.work, "nv.pt")], ok=False)
    if nv.returncode == 0 or "--adjust-tau" not in nv.stdout or "validation" not in nv.stdout:
        failures.append("adjust without a validation set: exit %d, %r" % (nv.returncode, nv.stdout[-300:]))

    # NCM (that run trained on every train/ image): predict's logits equal
    # -||x^ - c_k||^2 computed here from the exported model's features of
    # the training and test images; the exported NCM model computes the same.
    no_c = run([args.ltcl, "eval", "--checkpoint", nv_ckpt, "--adjust", "ncm"], ok=False)
    if no_c.returncode == 0 or "ltcl adjust" not in no_c.stdout:
        failures.append("ncm without centroids: exit %d, %r" % (no_c.returncode, no_c.stdout[-300:]))
    ncm_ckpt = os.path.join(args.work, "ncm.pt")
    run([args.ltcl, "adjust", "--checkpoint", nv_ckpt, "--adjust", "ncm", "--out", ncm_ckpt])
    _, ncm_logits = predict(args.ltcl, ncm_ckpt, test, os.path.join(args.work, "p_ncm.json"))
    raw_model = os.path.join(args.work, "nv_raw.ts")
    run([args.ltcl, "export", "--checkpoint", nv_ckpt, "--out", raw_model])
    m_raw = torch.jit.load(raw_model)
    train_paths = sorted(
        os.path.join(data, "train", n, f) for n in NAMES
        for f in os.listdir(os.path.join(data, "train", n)))
    train_y = torch.tensor([NAMES.index(os.path.basename(os.path.dirname(p))) for p in train_paths])
    load = lambda ps: torch.cat([m_raw.preprocess(torch.from_numpy(read_png_rgb(p).copy())
                                                  .unsqueeze(0)) for p in ps])
    with torch.no_grad():
        f_train = m_raw.features(load(train_paths)).double()
        f_test = m_raw.features(x).double()
    mu = f_train.mean(0)
    unit = lambda f: (f - mu) / (f - mu).norm(dim=1, keepdim=True)
    cent = torch.stack([unit(f_train)[train_y == k].mean(0) for k in range(3)])
    want_ncm = -torch.cdist(unit(f_test), cent) ** 2
    worst_ncm = (ncm_logits - want_ncm).abs().max().item()
    model_ncm = os.path.join(args.work, "ncm.ts")
    run([args.ltcl, "export", "--checkpoint", ncm_ckpt, "--out", model_ncm])
    m_ncm = torch.jit.load(model_ncm)
    with torch.no_grad():
        worst_ncm_export = (m_ncm(x).double() - ncm_logits).abs().max().item()
    if worst_ncm > 1e-4 or worst_ncm_export > 1e-4 or m_ncm.logit_adjust != "ncm":
        failures.append("ncm: %.2e from the reference, exported %.2e ('%s')"
                        % (worst_ncm, worst_ncm_export, m_ncm.logit_adjust))
    print("ncm vs reference %.1e, exported %.1e; top-1 %.2f"
          % (worst_ncm, worst_ncm_export,
             100.0 * (ncm_logits.argmax(1) == labels).double().mean().item()))

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
