"""Loads ltcl's compiled operators (ltcl/_C*.so) into torch.ops.ltcl.

The library is built by setup.py against the torch of the environment that
built it; torch's C++ ABI changes between releases, so it is refused with an
error that says what to do when the running torch is another one.
"""
import glob
import os

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
_loaded = None
_REBUILD = ("reinstall ltcl against this torch: pip install "
            "--no-build-isolation --force-reinstall <ltcl checkout>/python")


def _library_path() -> str:
    found = sorted(glob.glob(os.path.join(_HERE, "_C*.so")) +
                   glob.glob(os.path.join(_HERE, "_C*.pyd")))
    if not found:
        raise ImportError(
            "ltcl: the compiled operators (ltcl/_C*.so) are missing from %s; "
            "import ltcl from an installed package, not from the source "
            "folder python/ (%s)" % (_HERE, _REBUILD))
    return found[0]


def load() -> str:
    """Loads the operators once; returns the library's path."""
    try:
        from . import _build_info
    except ImportError:
        _build_info = None
    if _build_info is not None and _build_info.TORCH_VERSION != torch.__version__:
        raise ImportError(
            "ltcl was built against torch %s but this is torch %s (%s); %s"
            % (_build_info.TORCH_VERSION, torch.__version__, torch.__file__,
               _REBUILD))
    global _loaded
    path = _library_path()
    if _loaded is None:
        try:
            torch.ops.load_library(path)
        except OSError as e:
            raise ImportError(
                "ltcl: cannot load %s with torch %s: %s; %s"
                % (path, torch.__version__, e, _REBUILD)) from e
        _loaded = path
    return path
