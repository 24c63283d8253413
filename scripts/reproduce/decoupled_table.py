#!/usr/bin/env python3
"""Prints the table of scripts/reproduce/cpu_decoupled.sh.

    decoupled_table.py --out OUT --seeds 0,1,2 [--methods "tau_norm ..."]

Reads the stage 1 (OUT/ce/base/seed<k>/metrics.json), the evaluation-time
transforms (OUT/<m>/seed<k>/metrics.json, tau from adjust.json) and the
stage-2 runs (OUT/<m>/base/seed<k>/metrics.json), and prints per method the
test top-1 and many / medium / few (mean +- sample std over seeds) and the
paired difference from the same seed's stage 1 (mean +- std of the
differences). Standard library only.
"""

import argparse
import json
import math
import os
import sys

GROUPS = ["top1", "many", "medium", "few"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stats(values):
    """(mean, sample std, n) of the finite values, or None."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return mean, std, len(v)


def fmt(s, signed=False):
    if s is None:
        return "-"
    mean, std, n = s
    sign = "+" if signed and mean >= 0 else ""
    return f"{sign}{mean:.2f} ± {std:.2f}" if n > 1 else f"{sign}{mean:.2f}"


def metrics_path(out, method, seed):
    if method == "ce":
        return os.path.join(out, "ce", "base", f"seed{seed}", "metrics.json")
    if method in ("crt", "lws"):
        return os.path.join(out, method, "base", f"seed{seed}", "metrics.json")
    return os.path.join(out, method, f"seed{seed}", "metrics.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--methods", default="tau_norm posthoc_la ncm crt lws")
    a = ap.parse_args()
    seeds = [s for s in a.seeds.split(",") if s]
    methods = ["ce"] + a.methods.split()
    base = {s: load(metrics_path(a.out, "ce", s)) for s in seeds}
    header = ["method", "seeds", "tau (val)"] + GROUPS + [f"Δ{g}" for g in GROUPS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for m in methods:
        runs = {s: load(metrics_path(a.out, m, s)) for s in seeds}
        done = [s for s in seeds if runs[s]]
        taus = []
        for s in done:
            adj = load(os.path.join(a.out, m, f"seed{s}", "adjust.json"))
            if adj and adj.get("tau") is not None:
                taus.append(adj["tau"])
        row = [("CE (stage 1)" if m == "ce" else m), f"{len(done)}/{len(seeds)}",
               " ".join(f"{t:g}" for t in taus) if taus else "-"]
        for g in GROUPS:
            row.append(fmt(stats([runs[s].get(g) for s in done])))
        for g in GROUPS:
            if m == "ce":
                row.append("")
                continue
            diffs = []
            for s in done:
                b = base.get(s)
                if b and b.get(g) is not None and runs[s].get(g) is not None:
                    diffs.append(runs[s][g] - b[g])
            row.append(fmt(stats(diffs), signed=True))
        print("| " + " | ".join(row) + " |")
    print()
    print("Test-set top-1 % of each method's model (stage 1: its validation-"
          "selected best.pt; tau chosen on the validation set); Δ: the paired "
          "difference from the same seed's stage 1, mean ± sample std over seeds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
