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
