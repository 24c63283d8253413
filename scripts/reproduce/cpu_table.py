#!/usr/bin/env python3
"""Prints the CIFAR-10-LT reproduction table of scripts/reproduce/cpu_cifar10_lt.sh.

    cpu_table.py --out OUT --data LABEL [--methods "ce ..."] [--protocols "papers ltcl"]

Reads OUT/<protocol>/<method>/study.json (written by `ltcl study` after every
run) and prints, per method and protocol: finished / planned runs, the
selected checkpoint's test top-1 (mean, and +- sample std over seeds where
there are several), the last epoch's test top-1, many / medium / few, the
published figure and the difference. Standard library only.
"""

import argparse
import json
import os
import sys

# Top-1 % on CIFAR-10-LT IF 100, ResNet-32, 200 epochs, best test epoch
# (METHODS.md sections 7-8): Cao et al. 2019 (kaidic/LDAM-DRW) for CE and
# LDAM-DRW, BagofTricks-LT for Balanced Softmax.
PUBLISHED = {"ce": (70.36, "Cao et al. 2019"),
             "ldam_drw": (77.03, "Cao et al. 2019"),
             "bs": (77.54, "BagofTricks-LT")}
PROTOCOL_TEXT = {
    "papers": "papers: full subset, best test epoch (optimistic, as the papers)",
    "ltcl": "ltcl: checkpoint selected on the validation set",
}


def cell(study, metric):
    """(mean, std, n) of a metric of the study's one cell, or None."""
    if not study or not study.get("cells"):
        return None
    m = study["cells"][0].get(metric)
    if not m or not m.get("n"):
        return None
    return m["mean"], m.get("std"), m["n"]


def text(v, with_std=True):
    if v is None:
        return "-"
    mean, std, n = v
    if with_std and n > 1 and std is not None:
        return f"{mean:.2f} ± {std:.2f}"
    return f"{mean:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--methods", default="ce ldam_drw bs")
    ap.add_argument("--protocols", default="papers ltcl")
    a = ap.parse_args()
    rows = []
    for p in a.protocols.split():
        for m in a.methods.split():
            path = os.path.join(a.out, p, m, "study.json")
            study = None
            if os.path.exists(path):
                try:
                    with open(path) as f:
                        study = json.load(f)
                except (OSError, ValueError) as e:
                    sys.exit(f"cpu_table.py: {path}: {e}")
            c0 = study["cells"][0] if study and study.get("cells") else {}
            runs = f"{c0.get('runs', 0)}/{c0.get('planned', '?')}" if c0 else "0/-"
            top1 = cell(study, "top1")
            pub, src = PUBLISHED.get(m, (None, ""))
            diff = f"{top1[0] - pub:+.2f}" if top1 and pub is not None else "-"
            groups = "/".join(text(cell(study, g), False)
                              for g in ("many", "medium", "few"))
            rows.append([m, p, runs, text(top1), text(cell(study, "last_top1")),
                         groups, f"{pub:.2f}" if pub is not None else "-", diff])
    head = ["method", "protocol", "runs", "selected top-1", "last epoch",
            "many/medium/few", "published", "diff"]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    print(f"\nCIFAR-10-LT IF 100, ResNet-32, 200 epochs; data: {a.data}")
    for p in a.protocols.split():
        print(f"  {PROTOCOL_TEXT.get(p, p)}")
    print("  published: best test epoch of the papers' code, original CIFAR-10 pixels "
          "(CE, LDAM-DRW: Cao et al. 2019; BS: BagofTricks-LT)\n")
    for r in [head] + rows:
        print("  ".join(v.ljust(w) if i < 3 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(r, widths))))
    print(f"\nPer run: {a.out}/<protocol>/<method>/base/seed<k>/metrics.json; "
          f"per study: study.md")


if __name__ == "__main__":
    main()
