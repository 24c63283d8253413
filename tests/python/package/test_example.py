"""docs/python.md's two examples (python/examples/) run and train: the
CIFAR-style loop with BCL + RCL on random tensors (no torchvision, no data)
and the user's-own-dataset flow, in seconds."""
import math
import os
import sys
import unittest

import torch

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "..", "python", "examples")
sys.path.insert(0, EXAMPLES)

import cifar_bcl_rcl  # noqa: E402
import own_dataset  # noqa: E402


class ExampleTest(unittest.TestCase):

    def test_cifar_loop_with_bcl_rcl(self):
        torch.manual_seed(0)
        ds, labels, C = cifar_bcl_rcl.synthetic()
        self.assertNotIn("torchvision", sys.modules)  # the synthetic path needs none
        model, history = cifar_bcl_rcl.train(ds, labels, C, epochs=3, log=lambda s: None)
        self.assertTrue(all(math.isfinite(v) for v in history))
        self.assertLess(history[-1], history[0])
        # the contrastive term reaches the classifier through the prototypes
        self.assertIsNotNone(model.head_fc[0].weight.grad)
        self.assertGreater(float(model.head_fc[0].weight.grad.abs().sum()), 0)

    def test_own_dataset(self):
        torch.manual_seed(0)
        lines = []
        history, acc = own_dataset.run(epochs=3, log=lines.append)
        self.assertTrue(all(math.isfinite(v) for v in history))
        self.assertLess(history[-1], history[0])
        self.assertIn("ECE", lines[-1])
        self.assertGreater(acc["top1"], 100 / 6)   # better than chance


if __name__ == "__main__":
    unittest.main()
