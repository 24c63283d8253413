#!/usr/bin/env python3
"""The CPU reproduction tools of scripts/reproduce/ on a tiny recipe (issue 29).

1. folder_to_cifar_pickle.py: a 10-class folder of PNGs (lossless, so the
   expected bytes are known) becomes the original CIFAR-10 Python files:
   every batch equals the images in the documented order (class-interleaved,
   R, G, B planes), loads with encoding='latin1' (str keys, as torchvision)
   and with encoding='bytes' (bytes keys, as the CIFAR page's unpickle).
2. cpu_cifar10_lt.sh on those files with a tiny recipe (ResNet-20, IF 10,
   2 epochs): killed (SIGKILL to its process group) once the first run has
   finished, then run again: the finished run is not retrained (its
   metrics.json keeps its time stamp), the rest finish, and the table prints
   every (protocol, method) with the run's own top-1 and the published
   figure. Bad data folders are named errors.
3. official_on_cpu.py: a stand-in "official script" that calls .cuda(),
   torch.cuda.FloatTensor and torch.load(map_location='cuda:0') runs on the
   CPU, as __main__, with its own folder importable.

  /usr/bin/python3 tests/scripts/test_reproduce_cpu.py --ltcl build/ltcl --work DIR
Exit 0: pass; 1: a check failed; 77: skipped (no numpy / PIL / torch here).
"""
import argparse
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

try:
    import numpy as np
    from PIL import Image
except ImportError:
    print("skipped: this python3 has no numpy / PIL (scripts/setup.sh --tests installs them)")
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]
TRAIN_PER_CLASS, TEST_PER_CLASS = 60, 12
TINY = ("data.imbalance_factor=10 model.arch=resnet20 schedule.epochs=2 "
        "schedule.warmup_epochs=1 schedule.milestones=[1] optim.batch_size=32 "
        "data.val_per_class=5")
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def make_folder(root, rng):
    """train/ and test/ class folders of 32x32 PNGs; returns {split: [[img per class]]}."""
    images = {}
    for split, n in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        images[split] = []
        for c, name in enumerate(CLASSES):
            os.makedirs(os.path.join(root, split, name))
            imgs = []
            for i in range(n):
                base = np.zeros((32, 32, 3), np.int64)
                base[..., c % 3] = 40 + 20 * c
                a = np.clip(base + rng.integers(0, 60, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(a).save(os.path.join(root, split, name, f"{i:04d}.png"))
                imgs.append(a)
            images[split].append(imgs)
    return images


def check_pickles(out, images):
    d = os.path.join(out, "cifar-10-batches-py")
    expect = {}
    for split in ("train", "test"):
        rows, labels = [], []
        n = len(images[split][0])
        for i in range(n):
            for c in range(10):
                rows.append(images[split][c][i].transpose(2, 0, 1).reshape(-1))
                labels.append(c)
        expect[split] = (np.stack(rows), labels)
    k = len(expect["train"][1]) // 5
    got_rows, got_labels = [], []
    for b in range(1, 6):
        with open(os.path.join(d, f"data_batch_{b}"), "rb") as f:
            e = pickle.load(f, encoding="latin1")
        check(set(e) == {"batch_label", "labels", "data", "filenames"},
              f"data_batch_{b} loads with latin1, str keys: {sorted(e)}")
        check(e["data"].dtype == np.uint8 and e["data"].shape == (k, 3072),
              f"data_batch_{b} data uint8 [{k}, 3072]: {e['data'].dtype} {e['data'].shape}")
        got_rows.append(e["data"])
        got_labels += e["labels"]
    check(np.array_equal(np.concatenate(got_rows), expect["train"][0]),
          "training batches hold the images, class-interleaved, R/G/B planes")
    check(got_labels == expect["train"][1], "training labels in the same order")
    with open(os.path.join(d, "test_batch"), "rb") as f:
        e = pickle.load(f, encoding="bytes")
    check(b"data" in e and b"labels" in e, "test_batch loads with encoding='bytes', bytes keys")
    check(np.array_equal(e[b"data"], expect["test"][0]) and e[b"labels"] == expect["test"][1],
          "test batch equals the test images and labels")
    with open(os.path.join(d, "batches.meta"), "rb") as f:
        meta = pickle.load(f, encoding="latin1")
    check(meta["label_names"] == CLASSES, f"batches.meta label names: {meta['label_names']}")


def script_env(ltcl, data, out, **more):
    env = dict(os.environ, LTCL=ltcl, CIFAR10=data, OUT=out, SEEDS="0", THREADS="1",
               NICE="0", EXTRA=TINY, EXTRA_ldam_drw="loss.drw_epoch=1")
    env.update(more)
    return env


def check_study_script(ltcl, data, work):
    script = os.path.join(REPO, "scripts", "reproduce", "cpu_cifar10_lt.sh")
    out = os.path.join(work, "out")
    first = os.path.join(out, "papers", "ce", "base", "seed0", "metrics.json")
    # Killed once the first run has finished (the second is then under way).
    p = subprocess.Popen(["bash", script], env=script_env(ltcl, data, out),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=work)
    deadline = time.time() + 300
    while not os.path.exists(first) and p.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    check(os.path.exists(first), "the first run of the study finished before the kill")
    time.sleep(1.0)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    if not os.path.exists(first):
        print(p.stdout.read().decode(errors="replace"))
        return
    stamp = os.stat(first).st_mtime_ns
    # Finished two studies at a time (JOBS=2), from another folder with
    # relative paths.
    r = subprocess.run(["bash", script],
                       env=script_env(ltcl, os.path.relpath(data, work),
                                      os.path.relpath(out, work), JOBS="2"),
                       cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    text = r.stdout.decode(errors="replace")
    check(r.returncode == 0, f"the same command finishes the study (exit {r.returncode})")
    check(all(os.path.getsize(os.path.join(out, p, m + ".log")) > 0
              for p in ("papers", "ltcl") for m in ("ldam_drw", "bs")),
          "with JOBS=2 each study's progress goes to <OUT>/<protocol>/<method>.log")
    if r.returncode != 0:
        print(text[-4000:])
    check(os.stat(first).st_mtime_ns == stamp, "the run finished before the kill was not retrained")
    published = {"ce": "70.36", "ldam_drw": "77.03", "bs": "77.54"}
    for proto in ("papers", "ltcl"):
        for m in ("ce", "ldam_drw", "bs"):
            mj = os.path.join(out, proto, m, "base", "seed0", "metrics.json")
            if not os.path.exists(mj):
                check(False, f"{proto}/{m} finished")
                continue
            with open(mj) as f:
                j = json.load(f)
            want_sel = "test" if proto == "papers" else "val"
            check(j.get("selected_by") == want_sel,
                  f"{proto}/{m} selected on {want_sel}: {j.get('selected_by')}")
            row = [ln.split() for ln in text.splitlines()
                   if ln.startswith(m + " ") and f" {proto} " in ln]
            want = [m, proto, "1/1", f"{j['top1']:.2f}", f"{j['last']['top1']:.2f}",
                    "-/" + "/".join(f"{j[g]:.2f}" for g in ("medium", "few")),
                    published[m], f"{j['top1'] - float(published[m]):+.2f}"]
            check(row == [want], f"table row {proto}/{m}: {row} == [{want}]")
    check("CIFAR-10 (original files" in text, "the table names the data it ran on")
    bad = os.path.join(work, "empty")
    os.makedirs(bad, exist_ok=True)
    r = subprocess.run(["bash", script], env=script_env(ltcl, bad, out), cwd=work,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    msg = r.stdout.decode(errors="replace")
    check(r.returncode == 1 and bad in msg and "cifar-10-batches" in msg,
          f"a folder without CIFAR data is a named error: {msg.strip()}")
    r = subprocess.run(["bash", script], env=script_env(ltcl, data, out, JOBS="0"), cwd=work,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    msg = r.stdout.decode(errors="replace")
    check(r.returncode == 1 and "JOBS must be a whole number >= 1, got '0'" in msg,
          f"JOBS=0 is a named error: {msg.strip()}")
    r = subprocess.run(["bash", script], env=script_env(ltcl, data, out, METHODS="ce nosuch"),
                       cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    msg = r.stdout.decode(errors="replace")
    check(r.returncode == 1 and "configs/cifar10_lt/nosuch.yaml" in msg,
          f"an unknown method is a named error: {msg.strip()}")


def check_table(work):
    """cpu_table.py on a hand-made study.json: 3 seeds, selected != last."""
    out = os.path.join(work, "table")
    os.makedirs(os.path.join(out, "papers", "ce"))
    study = {"cells": [{"cell": "base", "runs": 3, "planned": 3,
                        "top1": {"n": 3, "mean": 71.234, "std": 0.5},
                        "last_top1": {"n": 3, "mean": 69.5, "std": 1.25},
                        "many": {"n": 3, "mean": 90.0, "std": 1.0},
                        "medium": {"n": 3, "mean": 60.0, "std": 1.0},
                        "few": {"n": 3, "mean": 12.345, "std": 1.0}}]}
    with open(os.path.join(out, "papers", "ce", "study.json"), "w") as f:
        json.dump(study, f)
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "reproduce", "cpu_table.py"),
                        "--out", out, "--data", "DATA", "--methods", "ce bs",
                        "--protocols", "papers"], stdout=subprocess.PIPE, timeout=60)
    rows = [ln.split() for ln in r.stdout.decode().splitlines() if ln.startswith(("ce ", "bs "))]
    check(r.returncode == 0 and rows == [
        ["ce", "papers", "3/3", "71.23", "±", "0.50", "69.50", "±", "1.25",
         "90.00/60.00/12.35", "70.36", "+0.87"],
        ["bs", "papers", "0/-", "-", "-", "-/-/-", "77.54", "-"]],
        f"cpu_table.py: mean ± std, last epoch, groups, published, difference: {rows}")


FAKE_OFFICIAL = '''
import sys, torch, helper_module
x = torch.ones(3).cuda(0, non_blocking=True)
m = torch.nn.Linear(3, 2).cuda()
w = torch.cuda.FloatTensor([1.0, 2.0])
torch.save({"w": w}, sys.argv[1] + ".pt")
back = torch.load(sys.argv[1] + ".pt", map_location="cuda:0")
from tensorboardX import SummaryWriter
SummaryWriter(log_dir="x").add_scalar("a", 1.0, 0)
print("FAKE", __name__, helper_module.VALUE, x.device, next(m.parameters()).device,
      back["w"].device, back["w"].tolist(), torch.get_num_threads())
'''


def check_official_wrapper(work):
    try:
        import torch  # noqa: F401
    except ImportError:
        print("(official_on_cpu.py not checked: this python3 has no torch)")
        return
    d = os.path.join(work, "official")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "train.py"), "w") as f:
        f.write(FAKE_OFFICIAL)
    with open(os.path.join(d, "helper_module.py"), "w") as f:
        f.write("VALUE = 41 + 1\n")
    wrapper = os.path.join(REPO, "scripts", "reproduce", "official_on_cpu.py")
    r = subprocess.run([sys.executable, wrapper, "--threads", "1", os.path.join(d, "train.py"),
                        os.path.join(work, "state")], cwd=work, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    text = r.stdout.decode(errors="replace")
    check(r.returncode == 0 and "FAKE __main__ 42 cpu cpu cpu [1.0, 2.0] 1" in text,
          f"official_on_cpu.py runs a .cuda() script on the CPU: {text.strip()[-300:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltcl", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    ltcl = os.path.abspath(a.ltcl)
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(0)
    images = make_folder(os.path.join(work, "folder"), rng)
    data = os.path.join(work, "pickled")
    r = subprocess.run([sys.executable,
                        os.path.join(REPO, "scripts", "reproduce", "folder_to_cifar_pickle.py"),
                        os.path.join(work, "folder"), data],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    check(r.returncode == 0, f"folder_to_cifar_pickle.py: {r.stdout.decode().strip()}")
    if r.returncode == 0:
        check_pickles(data, images)
        check_study_script(ltcl, data, work)
    check_table(work)
    check_official_wrapper(work)
    print(f"test_reproduce_cpu: {len(failures)} check(s) failed" if failures
          else "test_reproduce_cpu: all checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
