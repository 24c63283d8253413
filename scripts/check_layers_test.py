#!/usr/bin/env python3
"""Self-test of scripts/check_layers.py: it must pass a clean tree and fail,
naming file and line, on each kind of problem it is meant to catch.

  scripts/check_layers_test.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "check_layers.py")


def run_on(files):
    """Writes `files` ({relative path: text}) into a fresh tree, runs the
    check there; returns (exit code, stderr)."""
    with tempfile.TemporaryDirectory(prefix="ltcl_layers_") as root:
        os.makedirs(os.path.join(root, "include", "ltcl"))
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        done = subprocess.run(
            [sys.executable, SCRIPT, "--root", root],
            capture_output=True, text=True)
        return done.returncode, done.stderr


CLEAN = {
    "include/ltcl/util/error.h": "#pragma once\n#include <string>\n",
    "include/ltcl/data/dataset.h":
        '#pragma once\n#include "ltcl/util/error.h"\n',
    "src/data/dataset.cpp": '#include "ltcl/data/dataset.h"\n',
    "include/ltcl/models/net.h":
        '#pragma once\n#include "ltcl/dist/sync.h"\n',
    "include/ltcl/dist/sync.h": "#pragma once\n#include <torch/types.h>\n",
    "src/train/trainer.cpp": '#include <torch/torch.h>\n'
                             '#include "ltcl/models/net.h"\n',
}


class CheckLayersTest(unittest.TestCase):

    def assert_fails(self, changes, *needles):
        """CLEAN with `changes` must fail with every needle in stderr."""
        files = dict(CLEAN)
        files.update(changes)
        code, err = run_on(files)
        self.assertEqual(code, 1, err)
        for needle in needles:
            self.assertIn(needle, err)
        return err

    def test_clean_tree_passes(self):
        code, err = run_on(CLEAN)
        self.assertEqual(code, 0, err)

    def test_cycle_between_areas_fails(self):
        self.assert_fails(
            {"include/ltcl/util/error.h":
                '#pragma once\n\n#include "ltcl/data/dataset.h"\n'},
            "include cycle between areas data, util",
            "include/ltcl/util/error.h:3", "include/ltcl/data/dataset.h:2")

    def test_upward_include_fails(self):
        err = self.assert_fails(
            {"src/data/loader.cpp": '#include "ltcl/data/dataset.h"\n'
                                    '#include "ltcl/eval/meters.h"\n'},
            "src/data/loader.cpp:2", "higher area 'eval'")
        self.assertNotIn("cycle", err)

    def test_same_level_needs_the_table(self):
        self.assert_fails(
            {"src/losses/supcon.cpp": '#include "ltcl/models/net.h"\n'},
            "src/losses/supcon.cpp:1", "own level")

    def test_torch_umbrella_in_public_header_fails(self):
        self.assert_fails(
            {"include/ltcl/data/tensor.h":
                "#pragma once\n  #  include <torch/torch.h>\n"},
            "include/ltcl/data/tensor.h:2", "torch/torch.h")

    def test_unknown_area_fails(self):
        self.assert_fails(
            {"src/extra/x.cpp": '#include "ltcl/util/error.h"\n'},
            "area 'extra' is not in the layer table")


if __name__ == "__main__":
    unittest.main()
