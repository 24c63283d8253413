"""Markdown table of bench/parity.sh's runs: top-1 after each epoch and the
last epoch's mean training losses, per trainer / method / seed / init, then
the mean +- std of the final top-1 per group.

    /usr/bin/python3 bench/parity_table.py runs/parity
"""
import json
import math
import os
import re
import sys


def ltcl_run(folder):
    rows = [json.loads(l) for l in open(os.path.join(folder, "metrics.jsonl"))]
    rows.sort(key=lambda r: r["epoch"])
    last = rows[-1]
    cls = last.get("loss_la_ce", last.get("loss_la"))
    return [r["top1"] for r in rows], cls, last.get("loss_contrastive")


def pt_run(path):
    j = json.load(open(path))
    ep = j["epochs"]
    return [e["top1"] for e in ep], ep[-1]["train_la_ce"], ep[-1].get("train_con")


def main(root):
    runs = []
    for name in sorted(os.listdir(root)):
        m = re.match(r"(ltcl|pt)_(la|bcl)_s(\d+)_(\w+?)(\.json)?$", name)
        if not m:
            continue
        trainer, method, seed, init, ext = m.groups()
        path = os.path.join(root, name)
        try:
            if trainer == "ltcl" and os.path.isdir(path):
                if not os.path.exists(os.path.join(path, "metrics.json")):
                    continue  # unfinished
                top, cls, con = ltcl_run(path)
            elif trainer == "pt" and ext:
                top, cls, con = pt_run(path)
            else:
                continue
        except (OSError, ValueError, KeyError):
            continue
        runs.append((method, trainer, init, int(seed), top, cls, con))
    runs.sort()
    print("| method | trainer | init | seed | top-1 after each epoch | LA-CE, last epoch | contrastive, last epoch |")
    print("|---|---|---|---|---|---|---|")
    for method, trainer, init, seed, top, cls, con in runs:
        print("| %s | %s | %s | %d | %s | %.3f | %s |" % (
            method, trainer, init, seed, " / ".join("%.1f" % t for t in top),
            cls, "-" if con is None else "%.3f" % con))
    groups = {}
    for method, trainer, init, seed, top, cls, con in runs:
        groups.setdefault((method, trainer, init), []).append(top[-1])
    print()
    print("| method | trainer | init | seeds | final top-1 mean +- std |")
    print("|---|---|---|---|---|")
    for (method, trainer, init), v in sorted(groups.items()):
        mean = sum(v) / len(v)
        if len(v) > 1:
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
            cell = "%.2f +- %.2f" % (mean, std)
        else:
            cell = "%.2f (one seed: no spread)" % mean
        print("| %s | %s | %s | %d | %s |" % (method, trainer, init, len(v), cell))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/parity")
