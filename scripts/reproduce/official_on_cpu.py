#!/usr/bin/env python3
"""Runs a paper's official CIFAR training script, unmodified, on the CPU.

    official_on_cpu.py --threads N SCRIPT [ARGS ...]

e.g. (the external control of docs/results.md "Converged runs"):

    cd WORKDIR   # holds data/cifar-10-batches-py (folder_to_cifar_pickle.py)
    /usr/bin/python3 official_on_cpu.py --threads 1 \
        LDAM-DRW/cifar_train.py --loss_type CE --train_rule None --workers 0

The official code (a checkout of its public repository, kept outside
ltcl; nothing of it is copied here) calls .cuda() unconditionally and
loads checkpoints onto 'cuda:0'. This wrapper only changes where tensors
live, never what is computed:
- Tensor.cuda / Module.cuda return the object itself; torch.cuda.FloatTensor
  is torch.FloatTensor; torch.load maps to the CPU.
- torchvision's CIFAR MD5 checks accept files converted from another
  source (the pixels are whatever folder_to_cifar_pickle.py wrote); no
  download is attempted.
- tensorboardX, when absent, is replaced by a writer that records nothing
  (the scripts also print and write their own CSV logs).
- torch.set_num_threads(N).
The script then runs as __main__ with its own folder first on sys.path.
"""

import os
import runpy
import sys
import types

import torch


def main():
    argv = sys.argv[1:]
    threads = 1
    if len(argv) >= 2 and argv[0] == "--threads":
        threads = int(argv[1])
        argv = argv[2:]
    if not argv or not os.path.isfile(argv[0]):
        sys.exit(__doc__)
    torch.set_num_threads(threads)

    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.cuda.FloatTensor = torch.FloatTensor
    real_load = torch.load

    def cpu_load(*a, **k):
        k["map_location"] = "cpu"
        return real_load(*a, **k)

    torch.load = cpu_load

    try:
        import torchvision.datasets.cifar as cifar
    except ImportError:
        cifar = None
    if cifar is not None:
        cifar.check_integrity = lambda *a, **k: True
        cifar.CIFAR10._check_integrity = lambda self: True
        cifar.CIFAR10.download = lambda self: None

    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        stub = types.ModuleType("tensorboardX")

        class SummaryWriter:
            def __init__(self, *a, **k):
                pass

            def __getattr__(self, name):
                return lambda *a, **k: None

        stub.SummaryWriter = SummaryWriter
        sys.modules["tensorboardX"] = stub

    script = os.path.abspath(argv[0])
    sys.path.insert(0, os.path.dirname(script))
    sys.argv = argv
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
