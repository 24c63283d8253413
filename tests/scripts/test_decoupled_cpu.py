#!/usr/bin/env python3
"""scripts/reproduce/cpu_decoupled.sh on a tiny recipe (issue 26).

On a 10-class folder of PNGs, two seeds: a CE stage 1 study, tau-norm and
post-hoc LA (tau chosen on validation) and NCM on each seed's best.pt, cRT
and LWS studies each on its own seed's stage 1. Checked:
1. every stage-2 run names its own seed's stage-1 checkpoint in
   metrics.json (path and CRC-32, recomputed here with zlib), so "{seed}"
   reached the runs;
2. the chosen tau is a value of the default grid; the NCM model evaluates;
3. the table: every method has 2/2 seeds, and its top-1 mean ± std and the
   paired difference from stage 1 equal the values recomputed here from
   the runs' metrics.json files;
4. run again, nothing is retrained or re-evaluated (metrics.json time stamps
   kept) and the same table prints;
5. a dataset without the stage-2 recipes and an unknown method are named
   errors.

  /usr/bin/python3 tests/scripts/test_decoupled_cpu.py --ltcl build/ltcl --work DIR
Exit 0: pass; 1: a check failed; 77: skipped (no numpy / PIL here).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import zlib

try:
    import numpy as np
    from PIL import Image  # noqa: F401  (make_folder writes PNGs with it)
except ImportError:
    print("skipped: this python3 has no numpy / PIL (scripts/setup.sh --tests installs them)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_reproduce_cpu import make_folder  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ("data.imbalance_factor=10 model.arch=resnet20 schedule.epochs=2 "
        "schedule.warmup_epochs=1 schedule.milestones=[1] optim.batch_size=32 "
        "data.val_per_class=5 train.eval_every=1")
METHODS = ["tau_norm", "posthoc_la", "ncm", "crt", "lws"]
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def run_script(ltcl, folder, out, work, **more):
    env = dict(os.environ, LTCL=ltcl, OUT=out, SEEDS="0,1", THREADS="1", NICE="0",
               DATASET="cifar10_lt",
               DATA=f"data.dataset=folder data.root={folder} data.normalization=cifar10",
               STAGE1=TINY, STAGE2=TINY)
    env.update(more)
    return subprocess.run(["bash", os.path.join(REPO, "scripts", "reproduce", "cpu_decoupled.sh")],
                          env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=1200)


def metrics_path(out, m, s):
    if m == "ce":
        return os.path.join(out, "ce", "base", f"seed{s}", "metrics.json")
    if m in ("crt", "lws"):
        return os.path.join(out, m, "base", f"seed{s}", "metrics.json")
    return os.path.join(out, m, f"seed{s}", "metrics.json")


def load(path):
    with open(path) as f:
        return json.load(f)


def crc32_hex(path):
    with open(path, "rb") as f:
        return "%08x" % (zlib.crc32(f.read()) & 0xFFFFFFFF)


def mean_std(v):
    m = sum(v) / len(v)
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def table_row(text, name):
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltcl", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    ltcl = os.path.abspath(a.ltcl)
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    folder = os.path.join(work, "folder")
    make_folder(folder, np.random.default_rng(1))
    out = os.path.join(work, "out")
    r = run_script(ltcl, folder, out, work)
    text = r.stdout.decode(errors="replace")
    check(r.returncode == 0, f"cpu_decoupled.sh exits 0 (got {r.returncode})")
    if r.returncode != 0:
        print(text[-4000:])
        return finish()

    # 1. Each stage 2 started from its own seed's stage 1.
    for m in ("crt", "lws"):
        for s in (0, 1):
            j = load(metrics_path(out, m, s))
            s1 = os.path.join(out, "ce", "base", f"seed{s}", "best.pt")
            got = j.get("init_from", {})
            check(got.get("path") == s1 and got.get("crc32") == crc32_hex(s1),
                  f"{m} seed {s} names its stage 1 {s1} and its CRC-32 ({got})")
    # 2. tau from the grid 0, 0.1, ..., 2; NCM evaluated.
    for m in ("tau_norm", "posthoc_la"):
        for s in (0, 1):
            tau = load(os.path.join(out, m, f"seed{s}", "adjust.json")).get("tau")
            check(tau is not None and 0 <= tau <= 2 and abs(tau * 10 - round(tau * 10)) < 1e-9,
                  f"{m} seed {s}: tau {tau} is a grid value")
    check(all(os.path.exists(metrics_path(out, "ncm", s)) for s in (0, 1)),
          "ncm: both seeds evaluated")
    # 3. The table against values recomputed from the files.
    base = [load(metrics_path(out, "ce", s))["top1"] for s in (0, 1)]
    for m in ["ce"] + METHODS:
        row = table_row(text, "CE (stage 1)" if m == "ce" else m)
        if row is None:
            check(False, f"the table has a row for {m}")
            continue
        top1 = [load(metrics_path(out, m, s))["top1"] for s in (0, 1)]
        mean, std = mean_std(top1)
        check(row[1] == "2/2", f"{m}: 2/2 seeds ({row[1]})")
        check(row[3] == f"{mean:.2f} ± {std:.2f}", f"{m}: top-1 {row[3]} == {mean:.2f} ± {std:.2f}")
        if m != "ce":
            dm, ds = mean_std([t - b for t, b in zip(top1, base)])
            want = f"{'+' if dm >= 0 else ''}{dm:.2f} ± {ds:.2f}"
            check(row[7] == want, f"{m}: Δtop1 {row[7]} == {want}")
    # 4. Again: nothing retrained.
    stamps = {(m, s): os.stat(metrics_path(out, m, s)).st_mtime_ns
              for m in ["ce"] + METHODS for s in (0, 1)}
    r2 = run_script(ltcl, folder, out, work)
    check(r2.returncode == 0, "a second run exits 0")
    check(all(os.stat(metrics_path(out, m, s)).st_mtime_ns == t for (m, s), t in stamps.items()),
          "a second run retrains and re-evaluates nothing")
    t2 = r2.stdout.decode(errors="replace")
    check(t2[t2.find("| method"):] == text[text.find("| method"):], "the same table again")
    # 5. Named errors.
    r3 = run_script(ltcl, folder, out, work, DATASET="imagenet_lt_nosuch")
    check(r3.returncode != 0 and b"configs/imagenet_lt_nosuch/ce.yaml" in r3.stdout,
          "a dataset without recipes is named")
    r4 = run_script(ltcl, folder, out, work, METHODS="crt nosuch")
    check(r4.returncode != 0 and b"unknown method 'nosuch'" in r4.stdout,
          "an unknown method is named")
    return finish()


def finish():
    print(f"test_decoupled_cpu: {len(failures)} check(s) failed" if failures
          else "test_decoupled_cpu: all checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
