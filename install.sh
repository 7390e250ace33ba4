#!/usr/bin/env bash
# Install lava-sast into ./.venv on the machine's Python 3.11 (see README "Install").
#
# Why two steps: lava-nc 0.10.0 and lava-dl 0.6.0 declare Python <3.11 and torch <2.4.
# We first resolve every real dependency normally (pinned torch CPU wheel, numpy 1.26.x,
# which NetX and Lava ports need), then add the two Lava wheels alone with
# --no-deps --ignore-requires-python. The two Python-3.11 incompatibilities of those wheels
# are patched at import time by lava_sast/compat.py (no site-packages edits).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
$PIP install -q \
  "torch==2.13.0" "numpy==1.26.4" "scipy<2" scikit-learn "asteval<0.10" "networkx<=2.8.7" \
  h5py matplotlib "pillow<11" tonic pytest tqdm nbclient nbformat ipykernel "optuna==5.0.0"
$PIP install -q --no-deps --ignore-requires-python "lava-nc==0.10.0" "lava-dl==0.6.0"
# NIR interchange, and the frameworks the tests check it against (torch stays pinned)
$PIP install -q "torch==2.13.0" "numpy==1.26.4" "nir==1.0.8" "snntorch==1.0.0" "norse==1.1.0"
# the optional Ray extra (studies with --workers N); NO_RAY=1 leaves it out
if [ "${NO_RAY:-0}" != 1 ]; then $PIP install -q "ray==2.60.0"; fi
$PIP install -q --no-deps -e .
"$VENV/bin/python" -c "import lava_sast, lava.lib.dl.netx, lava.proc.lif.process; print('lava-sast installed in $VENV')"
