"""Train one small binary network on one device and under `keras.distribution.
DataParallel` (every visible device: run with XLA_FLAGS=--xla_force_host_platform_
device_count=2 on CPU), same seed and global batch; write what the test compares:

    KERAS_BACKEND=jax python tests/keras3/data_parallel.py OUT.json
"""

import json
import sys
import tempfile

import keras

from rethink_bnn import keras3 as rk
from rethink_bnn.data import digits_arrays
from rethink_bnn.events import read_scalars


def train(distribution):
    keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(0)
    (x, y), _ = digits_arrays()
    x = x.reshape(len(x), -1)[:512].astype("float32") / 255.0
    model = keras.Sequential([  # built inside the distribution: its variables laid out
        keras.Input((64,)), rk.QuantDense(64, input_quantizer=None),
        rk.QuantDense(10, input_quantizer="ste_sign"), keras.layers.Activation("softmax")])
    bop = rk.Bop(threshold=1e-6, gamma=1e-2)
    model.compile(keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        bop, keras.optimizers.Adam(1e-2))), loss="sparse_categorical_crossentropy")
    log_dir = tempfile.mkdtemp()
    model.evaluate(x[:64], y[:64], verbose=0)  # a test function made before the logger
    model.fit(x, y[:512], batch_size=64, epochs=2, verbose=0, shuffle=False,
              validation_data=(x[:64], y[:64]), callbacks=[rk.BatchMetricLogger(log_dir)])
    steps, losses = read_scalars(f"{log_dir}/steps", ["batch_loss"])["batch_loss"]
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, rk.QuantDense)]
    return {
        "devices": len(keras.distribution.list_devices()),
        "kernels": [keras.ops.convert_to_numpy(k).tolist() for k in kernels],
        "flips": keras.ops.convert_to_numpy(bop.flip_counts).tolist(),
        "batch_loss": [steps.tolist(), losses.tolist()],
        "state_laid_out_as_kernel": [
            str(s.value.sharding) == str(k.value.sharding) and
            len(s.value.sharding.device_set) == len(k.value.sharding.device_set)
            for k in kernels for s in bop.state(k).values()],
        "kernel_devices": [len(k.value.sharding.device_set) for k in kernels],
    }


if __name__ == "__main__":
    one = train(None)
    several = train(keras.distribution.DataParallel())
    with open(sys.argv[1], "w") as out:
        json.dump({"one": one, "several": several}, out)
