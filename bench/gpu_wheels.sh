#!/usr/bin/env bash
# Download, here (where pip reaches the package index), the wheels that bench/gpu.sh
# installs on the GPU machine, which has JAX, numpy, tensorboard, h5py, ml-dtypes, rich and
# absl-py for Python 3.12 but not Keras 3: keras and its two needs missing there, and
# zookeeper with its two needs for the tasks (installed without zookeeper's pins), and
# typing_extensions as new as typeguard needs.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PYTHON=${PYTHON:-python3}
for wheel in keras==3.15.1 namex==0.1.0 optree==0.20.0 zookeeper==1.4.0 click==8.5.1 \
        typeguard==4.6.0 typing_extensions==4.16.0; do
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$wheel"
done
ls -l .whl
