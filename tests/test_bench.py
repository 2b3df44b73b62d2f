"""bench/throughput.py's tf-keras worker builds and times each of its CPU variants (the
protocol and the Keras 3 worker: tests/keras3/test_bench.py, where JAX runs)."""

import importlib.util
import sys

import pytest

from tests.test_docs import ROOT

pytestmark = pytest.mark.experiments  # the tasks' optimizer (zookeeper)


@pytest.mark.slow
def test_the_tf_keras_throughput_variants_train_at_a_tiny_size(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # its sibling scripts
    spec = importlib.util.spec_from_file_location("throughput_tf_keras",
                                                  ROOT / "bench" / "throughput_tf_keras.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info, timers = module.prepare("binary_mlp", batch_size=4, steps=32, variant_set="cpu")
    assert list(timers) == list(module.CPU_VARIANTS)
    assert {"device", "tensorflow", "larq"} <= set(info)
    assert all(timer() > 0 for timer in timers.values())
    sys.modules.pop("train_step", None)  # (the bench's, not a test module)


@pytest.mark.slow
def test_time_to_accuracy_counts_the_flips_of_an_optimizer_built_in_the_first_step(monkeypatch):
    """Its flip counters exist only once fit's first step has built the optimizer (and a
    Sequential without an Input): the first epoch's flips count from 0."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # its sibling scripts
    spec = importlib.util.spec_from_file_location("time_to_accuracy",
                                                  ROOT / "bench" / "time_to_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import larq as lq
    import numpy as np
    import tensorflow as tf

    import rethink_bnn as rb

    model = tf.keras.Sequential([lq.layers.QuantDense(
        3, kernel_quantizer=lq.quantizers.NoOp(precision=1), kernel_initializer="ones",
        use_bias=False)])
    model.compile(rb.Bop(threshold=0.0, gamma=1.0), "mse", run_eagerly=True)
    until = module.UntilAccuracy(test=None, target=1.0, every=10**6)
    history = model.fit(np.ones((4, 2)), np.full((4, 3), -2.0), epochs=2, verbose=0,
                        callbacks=[until, rb.FlipLogger(per_layer=False)])
    assert until.flips == history.history["flips"] == [6, 0]  # all 6 to -1: on target
