#!/usr/bin/env bash
# The Keras 3 front end's figures on a borrowed GPU machine (JAX 0.11, numpy 2.5, Python
# 3.12, no TensorFlow, no network), in one command of a few minutes:
#
#   bash bench/gpu.sh [tiny]      # from the repository's root; results in $OUT or bench/results/gpu
#
# 1. Installs what that machine lacks (Keras 3 and two of its needs) from the wheels that
#    `bash bench/gpu_wheels.sh` downloaded into .whl/ here (carry .whl with the call);
#    where Keras is installed (CI, this machine), it uses what is there.
# 2. One Bop (and Bop2ndOrder, CEMA, SGD momentum, Adam) update on BinaryNet's 10.35 M
#    binary weights: bench/keras3_update.py.
# 3. BinaryNet training images/s at batch 50 and 256, float32 and mixed_bfloat16,
#    steps_per_execution 1 and 32, Bop + Adam against SGD momentum: bench/keras3_throughput.py.
# 4. Two epochs of `cifar10_bop front_end=keras3` through the command line on
#    CIFAR-10-shaped synthetic data (steps_per_execution 1 and auto: 30 of the epoch's
#    180 steps at a time), and the 500-epoch recipe's projected time:
#    bench/keras3_task.py.
#
# `tiny` runs them at a smoke-test size (CI runs it, so that the script works the day a
# GPU is there).
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python3}
OUT_DIR=${OUT:-bench/results/gpu}
mkdir -p "$OUT_DIR"
if ! "$PYTHON" -c "import keras, zookeeper" 2> /dev/null \
        && compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
"$PYTHON" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), '| keras', keras.__version__)"
if [ "${1:-}" = tiny ]; then
    "$PYTHON" bench/keras3_update.py --tiny --repeats 2 --out "$OUT_DIR/keras3_update.json"
    "$PYTHON" bench/keras3_throughput.py --network binary_mlp --batch-sizes 4 --steps 2 \
        --rounds 1 --steps-per-execution 1 2 --out "$OUT_DIR/keras3_throughput.json"
    "$PYTHON" bench/keras3_task.py --tiny --out "$OUT_DIR/keras3_task.json"
else
    "$PYTHON" bench/keras3_update.py --repeats 50 --out "$OUT_DIR/keras3_update.json"
    "$PYTHON" bench/keras3_throughput.py --batch-sizes 50 256 --steps 128 --rounds 2 \
        --precisions float32 mixed_bfloat16 --steps-per-execution 1 32 \
        --out "$OUT_DIR/keras3_throughput.json"
    for spe in 1 auto; do
        "$PYTHON" bench/keras3_task.py --steps-per-execution "$spe" \
            --out "$OUT_DIR/keras3_task_spe$spe.json"
    done
fi
