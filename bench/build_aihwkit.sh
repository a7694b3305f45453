#!/usr/bin/env bash
# Build IBM aihwkit 1.2.0 once, from its sdist, against a CPU torch, in a venv outside the
# repository (bench/export_check.py drives exports in it).  Never run in CI: ~10 min on 2 cores.
#   bash bench/build_aihwkit.sh [/work/aihwkit-venv]
set -euo pipefail
VENV=${1:-/work/aihwkit-venv}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0          # the CPU wheel; a plain 'torch' may pull a CUDA build
"$VENV/bin/pip" install -q "cmake>=4.2.1" ninja mypy "pybind11>=3.0.1" "scikit-build>=0.18.1" "setuptools>=77" \
    scipy numpy protobuf tqdm scikit-learn requests
command -v apt-get >/dev/null && apt-get install -y -q libopenblas-dev >/dev/null
SRC=$(mktemp -d)
"$VENV/bin/pip" download -q --no-deps --no-binary :all: --no-build-isolation -d "$SRC" aihwkit==1.2.0 || true
tar xzf "$SRC"/aihwkit-1.2.0.tar.gz -C "$SRC"
# the build calls mypy's stubgen: the venv's bin must be on PATH
(cd "$SRC/aihwkit-1.2.0" && PATH="$VENV/bin:$PATH" CMAKE_BUILD_PARALLEL_LEVEL=2 \
    "$VENV/bin/pip" wheel --no-build-isolation --no-deps -w "$SRC/dist" .)
"$VENV/bin/pip" install -q --no-deps "$SRC"/dist/aihwkit-1.2.0-*.whl
"$VENV/bin/python" -c "import aihwkit; print('aihwkit', aihwkit.__version__)"
