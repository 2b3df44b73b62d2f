"""TrainingTask as a library: the CLI's checks raise ValueError with the same message."""

import pytest
import tensorflow as tf
from zookeeper import configure

from rethink_bnn.experiments import Demo
from rethink_bnn.train import main
from rethink_bnn.training.task import ConfigError


def _demo(tmp_path, **fields):
    task = Demo()
    configure(task, {"run_dir": str(tmp_path / "run"), **fields})
    return task


@pytest.mark.parametrize("field, value", [("gamma", 2.0), ("threshold", -1.0), ("epochs", 0),
                                          ("flip_log_freq", "step")])
def test_a_library_call_raises_value_error_with_the_cli_message(field, value, tmp_path, capsys):
    with pytest.raises(ValueError) as raised:
        _demo(tmp_path, **{field: value}).run()
    assert isinstance(raised.value, ConfigError)
    assert main(["demo", f"{field}={value}", f"run_dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {raised.value}"
    assert not (tmp_path / "run").exists()


def test_the_global_batch_must_split_evenly_over_the_replicas(tmp_path):
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        with pytest.raises(ConfigError, match=r"batch_size=33 is the global batch and must "
                                              r"split evenly over the 2 replicas: use a "
                                              r"multiple of 2"):
            _demo(tmp_path, batch_size=33).run()
        _demo(tmp_path, batch_size=32).validate()  # a multiple passes
    assert not (tmp_path / "run").exists()
