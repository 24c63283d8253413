"""Builds the ltcl Python package and its C++ extension, ltcl/_C.so.

The extension is built against the torch that is installed in the
environment doing the build, with torch.utils.cpp_extension, so pip must not
build in an isolated environment (which would fetch another torch):

    python3 -m venv --system-site-packages v
    v/bin/pip install --no-build-isolation ./python

The C++ sources are not copied into python/: csrc/ltcl_ops.cpp includes
../src/losses/*.cpp and ../torch_ops/ops.cpp from the checkout, so the build
needs a checkout (or `git archive` of one), not python/ alone.
"""
import os
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError as e:  # pip's build isolation, or no torch at all
    sys.exit(
        "ltcl: setup.py - torch is not importable in the build environment "
        "(%s; python %s).\nltcl's extension is compiled against the torch "
        "you already have: install torch first, then build without pip's "
        "isolation:\n    pip install --no-build-isolation ./python"
        % (e, sys.executable))

# Every C++ file csrc/ltcl_ops.cpp includes (see the comment there), checked
# here so a partial copy of the tree fails naming the file.
SOURCES = ["src/losses/" + n for n in (
    "checks.cpp", "checks.h", "classification.cpp", "contrastive.cpp",
    "bessel.cpp", "hybrid.cpp", "paco.cpp", "proco.cpp", "rescom.cpp")] + [
    "torch_ops/ops.cpp", "include/ltcl/util/error.h",
    "include/ltcl/losses/options.h"]
missing = [s for s in SOURCES if not os.path.isfile(os.path.join(ROOT, s))]
if missing:
    sys.exit("ltcl: setup.py - the build needs the ltcl checkout around "
             "python/ (it compiles ../src and ../torch_ops in place); "
             "missing: %s under %s" % (", ".join(missing), ROOT))

VERSION = "0.1.0"  # project(ltcl VERSION ...) in ../CMakeLists.txt


class Build(BuildExtension):
    """Writes ltcl/_build_info.py: the torch this build was compiled with,
    which ltcl/__init__.py compares with the torch it runs with."""

    def run(self):
        super().run()
        info = ("# Written by setup.py at build time.\n"
                "TORCH_VERSION = %r\nCXX11_ABI = %r\nCUDA = %r\n" % (
                    torch.__version__, bool(torch._C._GLIBCXX_USE_CXX11_ABI),
                    torch.version.cuda))
        for base in {self.build_lib, HERE if self.inplace else self.build_lib}:
            path = os.path.join(base, "ltcl", "_build_info.py")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(info)


ext = CppExtension(
    "ltcl._C",
    [os.path.relpath(os.path.join(HERE, "csrc", "ltcl_ops.cpp"), HERE)],
    include_dirs=[os.path.join(ROOT, "include")],
    # fmt header-only: no libfmt at run time, and the same code whichever
    # fmt the include path finds (Debian's fmt 9, or the one pip's torch
    # ships in its include folder).
    define_macros=[("FMT_HEADER_ONLY", "1"),
                   ("LTCL_VERSION", '"%s"' % VERSION)],
    # -g0: Python's own CFLAGS carry -g (a 10x larger object, slower build).
    extra_compile_args=["-O2", "-g0", "-std=c++17", "-Wno-unused-parameter"],
)

setup(
    name="ltcl",
    version=VERSION,
    description="ltcl's long-tailed recognition losses, samplers and "
                "metrics for PyTorch (C++ operators)",
    packages=["ltcl"],
    package_dir={"": "."},
    ext_modules=[ext],
    cmdclass={"build_ext": Build.with_options(use_ninja=True)},
    python_requires=">=3.8",
    install_requires=["numpy"],
    zip_safe=False,
)
