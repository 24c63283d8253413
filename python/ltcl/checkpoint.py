"""Reads and writes ltcl checkpoints (format 2) with NumPy alone.

    import ltcl.checkpoint as ltcl_checkpoint   # or, from a checkout: python/ltcl_checkpoint.py
    ck = ltcl_checkpoint.load("runs/x/best.pt")
    ck.meta["epoch"], ck.meta["config_yaml"]
    weights = ck.state_dict()            # {"backbone.conv1.weight": ndarray, ...}
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()},
                          strict=False)  # names are ltcl's module names

The layout is documented in docs/training.md ("Checkpoint files") and
include/ltcl/util/record_file.h: a 32-byte header (signature, version, table
length, CRC-32s), a JSON table, raw little-endian records. Every CRC and
extent is checked before anything is returned; a damaged file raises
CheckpointError naming it. Nothing in a checkpoint is executed.

This file is written from that description, independently of the C++
reader, and is used by the parity tests to read ltcl's checkpoints.
"""
import json
import struct
import zlib

import numpy as np

SIGNATURE = b"LTCLCKPT"
VERSION = 2
_ALIGN = 64
_DTYPES = {
    "float32": "<f4", "float64": "<f8", "float16": "<f2", "int64": "<i8",
    "int32": "<i4", "int16": "<i2", "int8": "i1", "uint8": "u1", "bool": "?",
    "bfloat16": "<u2",  # raw bits; load(as_torch=True) gives torch.bfloat16
}


_NAMES = {np.dtype(v): k for k, v in _DTYPES.items() if k != "bfloat16"}


class CheckpointError(ValueError):
    pass


class Checkpoint:
    def __init__(self, meta, records, dtypes):
        self.meta = meta        # dict: epoch, config_yaml, model_info, ...
        self.records = records  # {record name: ndarray}, e.g. "param/x.weight"
        self.dtypes = dtypes    # {record name: "float32", "bfloat16", ...}

    def state_dict(self):
        """Parameters and buffers by module name (prefixes removed)."""
        out = {}
        for name, value in self.records.items():
            kind, _, rest = name.partition("/")
            if kind in ("param", "buffer"):
                out[rest] = value
        return out


def _align(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def parse(data, source="<bytes>"):
    if data[:4] == b"PK\x03\x04":
        raise CheckpointError("%s is a zip archive (ltcl before format 2, or "
                              "another program's file)" % source)
    if len(data) < 32 or data[:8] != SIGNATURE:
        raise CheckpointError("%s is not an ltcl checkpoint" % source)
    version, flags, table_len, table_crc, head_crc = struct.unpack_from(
        "<IIQII", data, 8)
    if zlib.crc32(data[:28]) != head_crc:
        raise CheckpointError("%s: header fails its CRC-32 check" % source)
    if version != VERSION or flags != 0:
        raise CheckpointError("%s: format version %d, this reader reads %d"
                              % (source, version, VERSION))
    if 32 + table_len > len(data):
        raise CheckpointError("%s is truncated (table)" % source)
    table_bytes = data[32:32 + table_len]
    if zlib.crc32(table_bytes) != table_crc:
        raise CheckpointError("%s: table fails its CRC-32 check" % source)
    table = json.loads(table_bytes.decode("utf-8"))
    start = _align(32 + table_len)
    end = start
    records = {}
    dtypes = {}
    spans = []
    for r in table["records"]:
        name = r["name"]
        if name in records:
            raise CheckpointError("%s: record %r appears twice" % (source, name))
        dt = np.dtype(_DTYPES[r["dtype"]])
        shape = tuple(int(d) for d in r["shape"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if nbytes != r["nbytes"]:
            raise CheckpointError("%s: record %r: size does not match its shape"
                                  % (source, name))
        lo = start + r["offset"]
        hi = lo + nbytes
        if hi > len(data):
            raise CheckpointError("%s is truncated (record %r)" % (source, name))
        raw = data[lo:hi]
        if zlib.crc32(raw) != r["crc32"]:
            raise CheckpointError("%s: record %r fails its CRC-32 check"
                                  % (source, name))
        records[name] = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
        dtypes[name] = r["dtype"]
        if nbytes:
            spans.append((lo, hi, name))
        end = max(end, hi)
    spans.sort()
    for (_, hi, _), (lo, _, name) in zip(spans, spans[1:]):
        if lo < hi:
            raise CheckpointError("%s: record %r overlaps another" % (source, name))
    # Everything else is padding, and padding is zero.
    covered = np.zeros(len(data), bool)
    covered[:32 + table_len] = True
    for lo, hi, _ in spans:
        covered[lo:hi] = True
    if np.frombuffer(data, np.uint8)[~covered].any():
        raise CheckpointError("%s: a padding byte is not zero" % source)
    if end != len(data):
        raise CheckpointError("%s: %d bytes after the last record"
                              % (source, len(data) - end))
    return Checkpoint(table["meta"], records, dtypes)


def load(path, as_torch=False):
    with open(path, "rb") as f:
        ck = parse(f.read(), path)
    if as_torch:
        import torch
        for k, v in list(ck.records.items()):
            t = torch.from_numpy(v)
            if ck.dtypes[k] == "bfloat16":
                t = t.view(torch.bfloat16)
            ck.records[k] = t
    return ck


def dumps(meta, records):
    """A format-2 file of `meta` (dict) and `records` ({name: ndarray})."""
    table_records = []
    blobs = []
    at = 0
    for name, arr in records.items():
        arr = np.array(arr, order="C", copy=True)  # keeps 0-d arrays 0-d
        kind = _NAMES[arr.dtype]
        raw = arr.tobytes()
        at = _align(at)
        table_records.append({"name": name, "dtype": kind, "shape": list(arr.shape),
                              "offset": at, "nbytes": len(raw),
                              "crc32": zlib.crc32(raw)})
        blobs.append((at, raw))
        at += len(raw)
    table = json.dumps({"meta": meta, "records": table_records},
                       separators=(",", ":")).encode("utf-8")
    head = SIGNATURE + struct.pack("<IIQI", VERSION, 0, len(table), zlib.crc32(table))
    head += struct.pack("<I", zlib.crc32(head))
    out = bytearray(head + table)
    out += b"\0" * (_align(len(out)) - len(out))
    start = len(out)
    for off, raw in blobs:
        out += b"\0" * (start + off - len(out))
        out += raw
    return bytes(out)
