"""The old path of ltcl's checkpoint reader, kept for scripts that put
python/ on sys.path and `import ltcl_checkpoint` (bench/pt_trainer.py, the
tests, fuzz/make_corpus.py). The code lives in ltcl/checkpoint.py (the
installed package's ltcl.checkpoint); it is loaded here by its file path, so
that this needs NumPy only, not the package's compiled operators.
"""
import importlib.util as _util
import os as _os
import sys as _sys

_spec = _util.spec_from_file_location(
    "ltcl_checkpoint._impl",
    _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "ltcl",
                  "checkpoint.py"))
_impl = _util.module_from_spec(_spec)
_sys.modules[_spec.name] = _impl
_spec.loader.exec_module(_impl)
globals().update({k: v for k, v in vars(_impl).items()
                  if not k.startswith("__")})
