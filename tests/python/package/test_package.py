"""The package around the modules: ops loaded on import, the version check,
ltcl.checkpoint (and its old path python/ltcl_checkpoint.py),
ltcl.load_exported."""
import importlib
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

import ltcl

PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                          "..", "python")


class PackageTest(unittest.TestCase):

    def test_ops_loaded(self):
        for op in ("contrastive_loss", "logit_adjusted_cross_entropy",
                   "balanced_softmax_cross_entropy", "ldam_loss", "focal_loss",
                   "psc_loss", "proco_loss", "log_bessel_i", "paco_loss"):
            self.assertTrue(callable(getattr(ltcl.ops, op)), op)
        self.assertTrue(os.path.isfile(ltcl.library_path))
        log_i, ratio = ltcl.ops.log_bessel_i(0.5, torch.tensor([1.0], dtype=torch.float64))
        # I_1/2(x) = sqrt(2 / (pi x)) sinh x
        self.assertAlmostEqual(float(log_i), float(np.log(np.sqrt(2 / np.pi) * np.sinh(1.0))), places=12)

    def test_version_mismatch_is_refused(self):
        from ltcl import _build_info, _extension
        self.assertEqual(_build_info.TORCH_VERSION, torch.__version__)
        saved = _build_info.TORCH_VERSION
        try:
            _build_info.TORCH_VERSION = "0.0.1"
            with self.assertRaisesRegex(ImportError, r"built against torch 0.0.1 but this is torch .*--no-build-isolation"):
                _extension.load()
        finally:
            _build_info.TORCH_VERSION = saved

    def test_checkpoint_reader(self):
        recs = {"param/fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                "buffer/class_counts": np.array([5, 1], np.int64)}
        data = ltcl.checkpoint.dumps({"kind": "ltcl checkpoint", "epoch": 2}, recs)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "best.pt")
            with open(path, "wb") as f:
                f.write(data)
            ck = ltcl.checkpoint.load(path)
            self.assertEqual(ck.meta["epoch"], 2)
            np.testing.assert_array_equal(ck.state_dict()["fc.weight"], recs["param/fc.weight"])
            t = ltcl.checkpoint.load(path, as_torch=True).state_dict()["class_counts"]
            self.assertIsInstance(t, torch.Tensor)
            bad = bytearray(data)
            bad[-1] ^= 1
            with open(path, "wb") as f:
                f.write(bytes(bad))
            with self.assertRaises(ltcl.checkpoint.CheckpointError):
                ltcl.checkpoint.load(path)
        # the old path still works, with NumPy alone (no compiled ops)
        sys.path.insert(0, PYTHON_DIR)
        try:
            old = importlib.import_module("ltcl_checkpoint")
            self.assertEqual(old.parse(data).meta["epoch"], 2)
            self.assertTrue(issubclass(old.CheckpointError, ValueError))
        finally:
            sys.path.remove(PYTHON_DIR)

    def test_load_exported(self):
        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 3)
                self.drop = torch.nn.Dropout(0.5)

            def forward(self, x):
                return self.fc(self.drop(x))

        m = torch.jit.script(Tiny())
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.ts")
            m.save(path)
            back = ltcl.load_exported(path)
            self.assertFalse(back.training)
            x = torch.randn(2, 4)
            torch.testing.assert_close(back(x), m.eval()(x))
            with self.assertRaisesRegex(FileNotFoundError, "ltcl export"):
                ltcl.load_exported(os.path.join(d, "missing.ts"))

    def test_help(self):
        import pydoc
        text = pydoc.render_doc(ltcl, renderer=pydoc.plaintext)
        self.assertIn("ltcl.losses", text)


if __name__ == "__main__":
    unittest.main()
