"""ltcl for PyTorch: long-tailed recognition losses (ltcl's C++ operators as
torch.nn.Modules), long-tail subsets and samplers, metrics, checkpoints.

    import ltcl
    bcl = ltcl.losses.BCL(class_counts=counts)      # counts: n_c per class
    loss = ce(logits, y) + 0.6 * bcl(z, y, prototypes)

Modules:
    ltcl.losses      SupCon, BCL, RCL, ContrastiveLoss, LogitAdjustedLoss,
                     BalancedSoftmaxLoss, LDAMLoss (+ drw_weights), FocalLoss,
                     PSCLoss, ProCoLoss (+ VmfEstimator), PaCoLoss (+
                     LabeledQueue), ResComLoss (+ ClassBalancedQueue)
    ltcl.data        long_tail_counts, select_long_tail, ClassBalancedSampler,
                     SquareRootSampler, shot_groups
    ltcl.metrics     group_accuracy, ece, embedding_metrics
    ltcl.checkpoint  ltcl's checkpoint files (format 2), read with NumPy
    ltcl.load_exported(path)   an `ltcl export` file as a TorchScript module
    ltcl.ops         the raw operators (torch.ops.ltcl)

Importing ltcl loads the compiled operators; it fails with ImportError
naming both versions when the running torch is not the one ltcl was built
against. docs/python.md has the API table and a training example.
"""
import torch

from . import _extension

__version__ = "0.1.0"
__all__ = ["losses", "data", "metrics", "checkpoint", "load_exported", "ops",
           "library_path"]

#: Path of the loaded operator library.
library_path: str = _extension.load()
#: The raw operators: torch.ops.ltcl.contrastive_loss, ... (docs/losses.md).
ops = torch.ops.ltcl

from . import checkpoint, data, losses, metrics  # noqa: E402


def load_exported(path: str, map_location=None) -> torch.jit.ScriptModule:
    """Loads a model written by `ltcl export` (a self-contained TorchScript
    module: the network's forward as ATen calls, weights attached).

    It needs neither ltcl's operators nor its sources: this is
    torch.jit.load with a check that the file exists, returned in eval mode.
    ``m(m.preprocess(images))`` gives logits [N, C] for uint8 images
    [N, H, W, C] at ``m.input_size``; also ``m.features``, ``m.embeddings``
    (contrastive methods), ``m.class_names``, ``m.mean`` / ``m.std``
    (docs/training.md, "ltcl export").
    """
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(
            "ltcl.load_exported - no such file: %r (write one with "
            "`ltcl export --checkpoint runs/x/best.pt --out model.pt`)" % path)
    module = torch.jit.load(path, map_location=map_location)
    module.eval()
    return module
