#!/usr/bin/env python3
"""A run with output.tensorboard: true read back by TensorBoard's own reader
(issue 28 item 4).

On a 10-class folder of PNGs, a tiny CE run (2 epochs, validation every
epoch) with TensorBoard on; then, with the tensorboard pip package:
1. train/<part>, train/lr and train/images_per_s at every step equal
   steps.jsonl (steps and values, float32 rounding);
2. val/top1, mean_class, many, medium, few, ece, nll at each evaluation
   equal metrics.jsonl's lines (at their "step");
3. selected/* and last/* equal metrics.json's test report and its "last";
4. the per-class accuracy histogram holds the per-class accuracies of
   metrics.json's selected report (count, min, max, sum); the config and the
   per-class table are text events;
5. the projector config names embeddings/test_{vectors,metadata}.tsv, files
   that exist, parsed with the projector's own message;
6. a run without the key writes no event file.

  /usr/bin/python3 tests/scripts/test_tensorboard_run.py --ltcl build/ltcl \
      --work DIR --venv build/tbvenv
Without the tensorboard package (no pip index for the venv fixture) the run
and its event file's TFRecord framing are still checked, then it exits 77
saying what was not read back. Exit 0: pass; 1: a check failed; 77: skipped
(no tensorboard; no numpy / PIL).
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def close(a, b):
    return math.isclose(a, b, rel_tol=2e-7, abs_tol=1e-30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ltcl", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--venv", default="")
    args = parser.parse_args()
    try:
        import tensorboard  # noqa: F401
        have = True
    except ImportError:
        have = False
    venv_python = os.path.join(args.venv, "bin", "python") if args.venv else ""
    if not have and venv_python and os.path.exists(venv_python) \
            and not os.environ.get("LTCL_TB_IN_VENV"):
        os.execve(venv_python, [venv_python] + sys.argv,
                  dict(os.environ, LTCL_TB_IN_VENV="1"))
    try:
        import numpy as np
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from test_reproduce_cpu import make_folder
    except ImportError:
        print("skipped: no numpy / PIL")
        return 77
    shutil.rmtree(args.work, ignore_errors=True)
    data = os.path.join(args.work, "data")
    make_folder(data, np.random.default_rng(0))
    common = ["--config", os.path.join(REPO, "configs/cifar10_lt/ce.yaml"),
              "--threads", "1", "--set", "data.dataset=folder", f"data.root={data}",
              "data.imbalance_factor=10", "model.arch=resnet20", "schedule.epochs=2",
              "schedule.warmup_epochs=1", "schedule.milestones=[1]",
              "optim.batch_size=32", "data.val_per_class=5", "train.eval_every=1",
              "train.log_every=1"]
    run = os.path.join(args.work, "run")
    subprocess.run([args.ltcl, "train", "--out", run] + common +
                   ["output.tensorboard=true"], check=True)
    plain = os.path.join(args.work, "plain")
    subprocess.run([args.ltcl, "train", "--out", plain] + common, check=True)
    check(not glob.glob(os.path.join(plain, "events.out.tfevents.*")),
          "without output.tensorboard: no event file")

    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    check(len(files) == 1, f"one event file in the run folder ({len(files)})")
    # Without the tensorboard package too: the TFRecord framing of every
    # record (CRC-32C written in tests/util/tb_readback.py, independent of
    # the C++ one), one record per step at least.
    sys.path.insert(0, os.path.join(REPO, "tests", "util"))
    from tb_readback import masked
    import struct
    if files:
        data = open(files[0], "rb").read()
        at, records, ok = 0, 0, True
        while at < len(data) and ok:
            (length,) = struct.unpack("<Q", data[at:at + 8])
            ok = (struct.unpack("<I", data[at + 8:at + 12])[0] == masked(data[at:at + 8])
                  and struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0]
                  == masked(data[at + 12:at + 12 + length]))
            at += 16 + length
            records += 1
        n_steps = sum(1 for _ in open(os.path.join(run, "steps.jsonl")))
        check(ok and at == len(data) and records > 3 * n_steps,
              f"event file framing: {records} records, CRCs valid, 3+ per step")
    if not have:
        print("=" * 70 + "\nSKIPPED: the values were not read back: no tensorboard "
              "package (tests/util/tb_venv.sh makes the venv; it needs pip's index)\n"
              + "=" * 70, file=sys.stderr)
        return 1 if failures else 77
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.projector import projector_config_pb2
    from google.protobuf import text_format
    acc = ea.EventAccumulator(run, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0,
                                                  ea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: {e.step: e.value for e in acc.Scalars(t)} for t in tags["scalars"]}

    # 1. steps.jsonl
    steps = [json.loads(l) for l in open(os.path.join(run, "steps.jsonl"))]
    check(len(steps) > 4, f"{len(steps)} steps logged")
    bad = 0
    for s in steps:
        for k, v in s.items():
            if k in ("step", "epoch"):
                continue
            got = scalars.get(f"train/{k}", {}).get(s["step"])
            if got is None or not close(got, float(np.float32(v))):
                bad += 1
                if bad < 4:
                    print(f"      train/{k} step {s['step']}: {got} vs {v}")
    check(bad == 0, "train/* at every step equal steps.jsonl")
    check(len(scalars.get("train/total", {})) == len(steps),
          "one train/total per step")

    # 2. metrics.jsonl
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    check(len(lines) == 2, "two evaluations")
    bad = 0
    for m in lines:
        split, step = m["split"], int(m["step"])
        want = {k: m[k] for k in ("top1", "mean_class", "many", "medium", "few") if k in m}
        want["ece"] = m["calibration"]["ece"]
        want["nll"] = m["calibration"]["nll"]
        for k, v in want.items():
            got = scalars.get(f"{split}/{k}", {}).get(step)
            if got is None or not close(got, float(np.float32(v))):
                bad += 1
                print(f"      {split}/{k} step {step}: {got} vs {v}")
    check(bad == 0, "val/* at each evaluation equal metrics.jsonl")

    # 3. metrics.json
    final = json.load(open(os.path.join(run, "metrics.json")))
    last_step = int(steps[-1]["step"])
    bad = 0
    for prefix, rep in (("selected", final), ("last", final["last"])):
        for k in [k for k in ("top1", "mean_class", "many", "medium", "few") if k in rep]:
            got = scalars.get(f"{prefix}/{k}", {}).get(last_step)
            if got is None or not close(got, float(np.float32(rep[k]))):
                bad += 1
                print(f"      {prefix}/{k}: {got} vs {rep[k]}")
        got = scalars.get(f"{prefix}/ece", {}).get(last_step)
        if got is None or not close(got, float(np.float32(rep["calibration"]["ece"]))):
            bad += 1
    check(bad == 0, "selected/* and last/* equal metrics.json")

    # 4. histogram and text
    h = acc.Histograms("selected/per_class_accuracy")
    per = [c["accuracy"] for c in final["per_class"] if c.get("accuracy") is not None]
    ok = len(h) == 1 and h[0].step == last_step
    if ok:
        hv = h[0].histogram_value
        ok = (int(hv.num) == len(per) and close(hv.min, float(np.float32(min(per))))
              and close(hv.max, float(np.float32(max(per))))
              and math.isclose(hv.sum, sum(float(np.float32(p)) for p in per), rel_tol=1e-6))
    check(ok, "selected/per_class_accuracy: count, min, max, sum of metrics.json's")
    text_tags = tags["tensors"]
    check("config" in text_tags and "val/per_class" in text_tags,
          f"text events config, val/per_class ({sorted(text_tags)})")
    if "config" in text_tags:
        cfg = acc.Tensors("config")[0].tensor_proto.string_val[0].decode()
        check("method: ce" in cfg and "tensorboard: true" in cfg,
              "the config text is the resolved config")

    # 5. projector
    path = os.path.join(run, "projector_config.pbtxt")
    ok = os.path.isfile(path)
    if ok:
        pc = text_format.Parse(open(path).read(), projector_config_pb2.ProjectorConfig())
        ok = (len(pc.embeddings) == 1
              and os.path.isfile(os.path.join(run, pc.embeddings[0].tensor_path))
              and os.path.isfile(os.path.join(run, pc.embeddings[0].metadata_path)))
    check(ok, "projector_config.pbtxt names the test embeddings")

    print("test_tensorboard_run: " + ("OK" if not failures else f"{len(failures)} FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
