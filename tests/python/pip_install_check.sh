#!/usr/bin/env bash
# python.pip_install_check: a clean copy of the tree (git archive HEAD, so
# only committed files: what a fresh clone has) is pip-installed into a new
# venv made with --system-site-packages from PYTHON (Debian's /usr/bin/python3
# and its torch), then `import ltcl` and the package's unittest suite
# (tests/python/package, from that copy) run with the venv's python.
#
#   bash tests/python/pip_install_check.sh [PYTHON] [WORK]
#
# Exit 0: installed and passed. 77 (CTest: Skipped) only when PYTHON has no
# torch, or pip would need the package registry (a missing build
# dependency) and cannot reach it; both say so on stderr. Anything else
# failing fails the test.
set -euo pipefail
PY=${1:-/usr/bin/python3}
WORK=${2:-$(mktemp -d /tmp/ltcl_pip_check.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export LTCL_SHARED_DIR=${LTCL_SHARED_DIR:-$ROOT/../shared}
skip() { echo "SKIPPED (exit 77): $*" >&2; exit 77; }
t0=$(date +%s)

"$PY" -c "import torch" 2>/dev/null ||
  skip "$PY cannot import torch; ltcl's package builds against an installed torch"
echo "torch: $("$PY" -c 'import torch; print(torch.__version__, torch.__file__)')"

rm -rf "$WORK"
mkdir -p "$WORK/src"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$ROOT" archive HEAD | tar -x -C "$WORK/src"
  echo "tree: git archive HEAD ($(git -C "$ROOT" rev-parse --short HEAD)) -> $WORK/src"
else
  tar -C "$ROOT" --exclude='./build*' --exclude='./runs' -cf - . | tar -x -C "$WORK/src"
  echo "tree: not a git checkout; copied $ROOT -> $WORK/src"
fi

"$PY" -m venv --system-site-packages "$WORK/v"
# PYTHON may itself be a venv's (scripts/build_torch2.sh passes
# .venv-torch2's, where pip's torch 2.x is): --system-site-packages shows the
# base interpreter's packages, not that venv's, so a .pth file adds them.
parent_site=$("$PY" -c 'import sys, sysconfig; print(sysconfig.get_paths()["purelib"] if sys.prefix != sys.base_prefix else "")')
if [ -n "$parent_site" ]; then
  child_site=$("$WORK/v/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$parent_site" > "$child_site/_ltcl_parent_venv.pth"
  echo "PYTHON is a venv's: its packages ($parent_site) are visible in the check's venv"
fi
PIP=("$WORK/v/bin/pip" --disable-pip-version-check)
# With Debian's setuptools, wheel and numpy visible there is nothing to
# download; only when one is missing does pip need the registry.
missing=$("$WORK/v/bin/python" - <<'PY'
import importlib.util as u
print(" ".join(m for m in ("setuptools", "wheel", "numpy") if u.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "missing in the venv: $missing; fetching from the registry"
  "${PIP[@]}" install $missing ||
    skip "pip cannot install $missing (no registry?); the build needs them"
fi

t1=$(date +%s)
( cd "$WORK" && MAX_JOBS=${MAX_JOBS:-1} "${PIP[@]}" install --no-index \
    --no-build-isolation "$WORK/src/python" ) > "$WORK/pip.log" 2>&1 || {
  tail -40 "$WORK/pip.log"; echo "FAILED: pip install (log: $WORK/pip.log)" >&2; exit 1; }
t2=$(date +%s)
echo "pip install --no-build-isolation ./python: $((t2 - t1)) s"

cd "$WORK"  # away from any source tree: the installed package is imported
"$WORK/v/bin/python" - "$WORK/v" <<'PY'
import os, sys
import ltcl
where = os.path.realpath(ltcl.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), "imported from %s" % where
print("import ltcl: %s (torch %s)" % (where, ltcl.torch.__version__))
PY
# pytest (Debian's python3-pytest, which scripts/setup.sh --tests installs)
# where this python has it; the tests are unittest cases, so plain unittest
# runs them too.
if "$WORK/v/bin/python" -c "import pytest" 2>/dev/null; then
  "$WORK/v/bin/python" -m pytest -q -p no:cacheprovider "$WORK/src/tests/python/package" 2>&1 | tail -60
else
  "$WORK/v/bin/python" -m unittest discover -s "$WORK/src/tests/python/package" -v 2>&1 | tail -60
fi
rc=${PIPESTATUS[0]}
echo "total $(( $(date +%s) - t0 )) s"
exit "$rc"
