#!/usr/bin/env python3
"""ltcl's TensorBoard event files read back by TensorBoard's own reader.

  tb_readback.py --writer <tb_write_check> --work <folder> [--venv <venv>]

Runs tb_write_check (tests/util/tb_write_check.cpp) into a fresh folder, then
1. checks every record's framing with a CRC-32C written here (bitwise, no
   table: independent of the C++ one) and the standard library only;
2. reads the folder with the tensorboard pip package:
   event_accumulator.EventAccumulator (the raw events: file version, scalars,
   histograms, text tensor) and plugin_event_accumulator.EventAccumulator
   with data_compat (what TensorBoard's dashboards are served: scalars,
   histogram buckets as [left, right, count], text), and parses
   projector_config.pbtxt with the projector plugin's message.
Exact values, steps and tags throughout.

tensorboard is not in Debian: where this python lacks it, the script runs
again with <venv>/bin/python (made by tests/util/tb_venv.sh, the CTest
fixture). Where neither has it, step 1 still runs, then it says so loudly
and exits 77 (CTest: Skipped), never 0.
"""

import argparse
import glob
import os
import shutil
import struct
import subprocess
import sys

SKIP = 77

# What tb_write_check writes (keep in step with tb_write_check.cpp).
SCALARS = {
    "train/loss": [(0, 2.5), (10, 1.25), (20, 0.75), (30, 0.5)],
    "val/accuracy": [(30, 0.375), (1 << 40, -1.5)],
}
# tag -> [(step, min, max, num, sum, sum_squares, bucket_limit, bucket)]
HISTOGRAMS = {
    "weights/fc": [
        (10, 0.0, 10.0, 11.0, 55.0, 385.0, [2, 4, 6, 8, 10], [2, 2, 2, 2, 3]),
        (20, -1.0, 3.0, 4.0, 1.5, 11.25, [1, 3], [3, 1]),
    ],
    "weights/constant": [(20, 4.0, 4.0, 2.0, 8.0, 32.0, [4], [2])],
}
TEXT = ("config", 0, "**lr** 0.1\n\n| k | v |\n|---|---|\n| µ | 1 |")
RECORDS = 1 + 6 + 3 + 1  # version, scalars, histograms, text


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    return (rotated + 0xA282EAD8) & 0xFFFFFFFF


def check_framing(path):
    """Every record's header and trailer; returns the payloads."""
    data = open(path, "rb").read()
    payloads = []
    at = 0
    while at < len(data):
        assert len(data) - at >= 16, f"truncated record at {at}"
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[at + 8:at + 12])
        assert length_crc == masked(header), f"length CRC at {at}"
        assert at + 16 + length <= len(data), f"record at {at} too long"
        payload = data[at + 12:at + 12 + length]
        (payload_crc,) = struct.unpack(
            "<I", data[at + 12 + length:at + 16 + length])
        assert payload_crc == masked(payload), f"payload CRC at {at}"
        payloads.append(payload)
        at += 16 + length
    assert len(payloads) == RECORDS, (len(payloads), RECORDS)
    # The first is Event{file_version: "brain.Event:2"}: field 3, length 13.
    assert b"\x1a\x0dbrain.Event:2" in payloads[0], payloads[0]
    return payloads


def check_raw_events(folder):
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(
        folder,
        size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0,
                       ea.COMPRESSED_HISTOGRAMS: 0})
    acc.Reload()
    assert acc.file_version == 2.0, acc.file_version
    tags = acc.Tags()
    assert sorted(tags[ea.SCALARS]) == sorted(SCALARS), tags
    assert sorted(tags[ea.HISTOGRAMS]) == sorted(HISTOGRAMS), tags
    assert tags[ea.TENSORS] == [TEXT[0]], tags
    for tag, points in SCALARS.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert got == points, (tag, got, points)
    for tag, expected in HISTOGRAMS.items():
        got = []
        for e in acc.Histograms(tag):
            h = e.histogram_value
            got.append((e.step, h.min, h.max, h.num, h.sum, h.sum_squares,
                        list(h.bucket_limit), list(h.bucket)))
        assert got == expected, (tag, got, expected)
    (text,) = acc.Tensors(TEXT[0])
    assert text.step == TEXT[1], text.step
    array = tensor_util.make_ndarray(text.tensor_proto)
    assert array.shape == (1,), array.shape
    assert array[0].decode("utf-8") == TEXT[2], array
    meta = acc.SummaryMetadata(TEXT[0])
    assert meta.plugin_data.plugin_name == "text", meta
    print(f"raw events: {len(SCALARS)} scalar tags, {len(HISTOGRAMS)} "
          "histogram tags, text: as written")


def check_dashboard_data(folder):
    """What TensorBoard's server hands its dashboards (data_compat)."""
    import numpy as np
    from tensorboard.backend.event_processing import (
        plugin_event_accumulator as pea)
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(
        folder, size_guidance={pea.TENSORS: 0},
        tensor_size_guidance={"scalars": 0, "histograms": 0, "text": 0})
    acc.Reload()
    content = {p: sorted(acc.PluginTagToContent(p))
               for p in ("scalars", "histograms", "text")}
    assert content == {"scalars": sorted(SCALARS),
                       "histograms": sorted(HISTOGRAMS),
                       "text": [TEXT[0]]}, content
    for tag, points in SCALARS.items():
        got = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
               for e in acc.Tensors(tag)]
        assert got == points, (tag, got, points)
    for tag, expected in HISTOGRAMS.items():
        events = acc.Tensors(tag)
        assert [e.step for e in events] == [x[0] for x in expected], tag
        for e, (_, lo, hi, _, _, _, limits, counts) in zip(events, expected):
            got = tensor_util.make_ndarray(e.tensor_proto)
            lefts = [lo] + limits[:-1]
            rights = limits[:-1] + [hi]
            want = np.array([lefts, rights, counts], dtype=np.float32).T
            assert np.array_equal(got, want), (tag, e.step, got, want)
    (text,) = acc.Tensors(TEXT[0])
    array = tensor_util.make_ndarray(text.tensor_proto)
    assert array[0].decode("utf-8") == TEXT[2], array
    print("dashboard data (data_compat): scalars, histogram buckets "
          "[left, right, count], text: as written")


def check_projector(folder):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    path = os.path.join(folder, "projector_config.pbtxt")
    config = text_format.Parse(
        open(path).read(), projector_config_pb2.ProjectorConfig())
    assert len(config.embeddings) == 1, config
    e = config.embeddings[0]
    assert (e.tensor_name, e.tensor_path, e.metadata_path) == (
        "test", "vectors.tsv", "metadata.tsv"), e
    for name in (e.tensor_path, e.metadata_path):
        assert os.path.isfile(os.path.join(folder, name)), name
    print("projector_config.pbtxt: parsed by the projector's message")


def skip_loudly(reason):
    bar = "=" * 70
    print(f"{bar}\nSKIPPED: TensorBoard's reader was not run: {reason}\n"
          "(the framing and CRCs were checked above; test_util_tensorboard "
          "checks the format)\nMake the venv: tests/util/tb_venv.sh "
          f"/usr/bin/python3 <build>/tbvenv (needs pip's index)\n{bar}",
          file=sys.stderr)
    return SKIP


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writer", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--venv", default="")
    args = parser.parse_args()

    try:
        import tensorboard  # noqa: F401
        have_tensorboard = True
    except ImportError:
        have_tensorboard = False
    venv_python = os.path.join(args.venv, "bin", "python") if args.venv else ""
    if (not have_tensorboard and venv_python and os.path.exists(venv_python)
            and not os.environ.get("LTCL_TB_READBACK_IN_VENV")):
        env = dict(os.environ, LTCL_TB_READBACK_IN_VENV="1")
        os.execve(venv_python, [venv_python] + sys.argv, env)

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    run = os.path.join(args.work, "run")
    subprocess.run([args.writer, run], check=True)
    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    assert len(files) == 1, files
    check_framing(files[0])
    print(f"{os.path.basename(files[0])}: {RECORDS} records, framing and "
          "CRC-32C checked")

    if not have_tensorboard:
        why = (f"no tensorboard in {sys.executable}" +
               (f" nor in {venv_python}" if venv_python else ""))
        return skip_loudly(why)
    import tensorboard
    print(f"tensorboard {tensorboard.__version__} ({sys.executable})")
    check_raw_events(run)
    check_dashboard_data(run)
    check_projector(run)
    print("tb_readback: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
