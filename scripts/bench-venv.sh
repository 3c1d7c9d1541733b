#!/usr/bin/env bash
# Creates (once) the PyTorch + MONAI virtual environment the side-by-side benchmarks compare against, and prints its
# python. Plain PyPI only: PyPI's torch wheel (with its CUDA libraries, about 6 GB; the CPU is all that is used),
# monai and nibabel. Kept between runs in $SEGVIZ_BENCH_VENV (default ~/.cache/segviz/bench-venv) because
# installing takes minutes; `rm -rf` that folder to reinstall. Used by scripts/bench-compare.sh (`make bench-compare`).
set -euo pipefail
VENV=${SEGVIZ_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/segviz/bench-venv}
PY=${PYTHON:-python3}
if ! "$VENV/bin/python" -c "import torch, monai, nibabel" >/dev/null 2>&1; then
  echo "bench-venv: installing torch, monai, nibabel from PyPI into $VENV (minutes; about 6 GB)" >&2
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check torch monai nibabel numpy >&2
fi
"$VENV/bin/python" -c "import torch, monai; import sys; print('bench-venv: torch', torch.__version__, 'monai', monai.__version__, file=sys.stderr)"
echo "$VENV/bin/python"
