"""The tf-keras front end's variants for `bench/throughput.py` (which runs this module in
a worker process of its own): BinaryNet (or the demo MLP) as the sec 5.2 recipe trains it
through `model.fit`, on a `tf.data` pipeline of random batches of the network's shape.

- floor: forward and backward only (every gradient computed, nothing applied);
- ours: `SkipNonFinite(CaseOptimizer(Bop, Adam))` as the tasks build it; "+ logging":
  with `FlipLogger` and `BatchMetricLogger` at every step (per layer), as the tasks log;
- "spe 32": `steps_per_execution=32`; "XLA": `jit_compile=True`; "mixed":
  `mixed_float16` (Keras' loss scaling);
- larq: Larq's `CaseOptimizer(Bop, Adam)` (legacy optimizer API).
"""

import platform
import tempfile
import time

import rethink_bnn as rb  # selects Keras 2 before TensorFlow loads
import larq as lq
import numpy as np
import tensorflow as tf
from train_step import GradientsOnly, _larq

from rethink_bnn import models
from rethink_bnn.experiments.frontends.tf_keras import FrontEnd

LOSS = "sparse_categorical_crossentropy"
SHAPES = {"binarynet": (32, 32, 3), "binary_mlp": (8, 8, 1)}


def _ours():  # as the tasks build it
    return FrontEnd.optimizer(1e-2, rb.Bop(threshold=1e-8, gamma=1e-4))


def _logging():
    folder = tempfile.mkdtemp(prefix="throughput_")
    return [rb.callbacks.FlipLogger(folder, update_freq=1),
            rb.callbacks.BatchMetricLogger(folder, update_freq=1)]


def _floor(network):
    return GradientsOnly(network())


# name -> (wrap the network, optimizer factory, compile options, callbacks factory, policy)
VARIANTS = {
    "floor": (_floor, lambda: "sgd", {}, list, "float32"),
    "ours": (None, _ours, {}, list, "float32"),
    "ours + logging": (None, _ours, {}, _logging, "float32"),
    "ours + logging, spe 32": (None, _ours, {"steps_per_execution": 32}, _logging, "float32"),
    "floor, spe 32": (_floor, lambda: "sgd", {"steps_per_execution": 32}, list, "float32"),
    "larq": (None, _larq, {}, list, "float32"),
    "ours + logging, spe 32, XLA": (None, _ours, {"steps_per_execution": 32,
                                                  "jit_compile": True}, _logging, "float32"),
    "ours + logging, spe 32, mixed": (None, _ours, {"steps_per_execution": 32}, _logging,
                                      "mixed_float16"),
    "ours + logging, spe 32, XLA, mixed": (None, _ours, {"steps_per_execution": 32,
                                                         "jit_compile": True},
                                           _logging, "mixed_float16"),
}
CPU_VARIANTS = ("floor", "ours", "ours + logging", "ours + logging, spe 32", "larq")


def _build(name, network):
    wrap, make_optimizer, options, make_callbacks, policy = VARIANTS[name]
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        make = lambda: getattr(models, network)(weight_kind="bop", seed=0)  # noqa: E731
        model = wrap(make) if wrap else make()
        # as the tasks compile (the floor's train step computes no metric)
        metrics = [] if wrap else ["accuracy"]
        model.compile(make_optimizer(), loss=LOSS, metrics=metrics, **options)
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
    return model, make_callbacks()


def _data(network, batch_size):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8 * batch_size, *SHAPES[network])).astype(np.float32)
    y = rng.integers(0, 10, 8 * batch_size)
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch_size).prefetch(2)


def prepare(network, batch_size, steps, variant_set):
    """(what ran them, {name: a function that times one fit of `steps` steps}), each
    variant built and warmed up (traced) first."""
    names = list(VARIANTS) if variant_set == "all" else list(CPU_VARIANTS)
    data = _data(network, batch_size)
    built = {name: _build(name, network) for name in names}
    for model, callbacks in built.values():  # trace and warm up: two executions
        per_execution = int(model._steps_per_execution.numpy())
        model.fit(data, epochs=1, steps_per_epoch=2 * per_execution, callbacks=callbacks,
                  verbose=0)

    def timer(model, callbacks):
        def seconds():
            start = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=callbacks, verbose=0)
            return time.perf_counter() - start
        return seconds

    gpus = tf.config.list_physical_devices("GPU")
    info = {"device": ([tf.config.experimental.get_device_details(g).get("device_name")
                        for g in gpus] or f"CPU: {platform.machine()}"),
            "tensorflow": tf.__version__, "larq": lq.__version__}
    return info, {name: timer(*built[name]) for name in names}
