"""python/ltcl_checkpoint.py on its own: its writer and reader agree, and no
flipped byte or cut of a file is accepted (the C++ reader's guarantee,
fuzz/hostile_test.cpp; a C++-written checkpoint is read by this module in
the parity tests, bench/grad_parity.py). Run: /usr/bin/python3 this_file."""
import os
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import ltcl_checkpoint as ck  # noqa: E402


def main():
    recs = {"param/w": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
            "buffer/n": np.array(5, np.int64), "rng/cpu": np.arange(9, dtype=np.uint8),
            "tensor/e": np.zeros((0, 2), np.float64), "tensor/b": np.array([True, False])}
    data = ck.dumps({"kind": "ltcl checkpoint", "epoch": 4}, recs)
    back = ck.parse(data)
    assert back.meta == {"kind": "ltcl checkpoint", "epoch": 4}, back.meta
    for k, v in recs.items():
        assert back.records[k].dtype == v.dtype and back.records[k].shape == v.shape, k
        assert np.array_equal(back.records[k], v), k
    assert set(back.state_dict()) == {"w", "n"}
    accepted = []
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        try:
            ck.parse(bytes(bad))
            accepted.append(i)
        except (ck.CheckpointError, ValueError, KeyError, UnicodeDecodeError):
            pass
    assert not accepted, "flipped bytes accepted: %s" % accepted
    for n in range(0, len(data), 5):
        try:
            ck.parse(data[:n])
            raise AssertionError("cut at %d accepted" % n)
        except (ck.CheckpointError, ValueError, KeyError, UnicodeDecodeError, struct_error()):
            pass
    print("ltcl_checkpoint.py: round trip of %d records, %d bytes; %d flips and %d cuts refused"
          % (len(recs), len(data), len(data) - len(accepted), len(range(0, len(data), 5))))


def struct_error():
    import struct
    return struct.error


if __name__ == "__main__":
    main()
