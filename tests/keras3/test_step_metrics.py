"""Per-step batch metrics of the Keras 3 BatchMetricLogger, on the backend this process
runs: recorded on the device inside the training step, read at epochs' ends and before
the ring wraps, each batch's loss and accuracy as Keras' running means after each step
imply them, the same series with `steps_per_execution` 1 and 32."""

import keras
import numpy as np
import pytest

from rethink_bnn import keras3 as rk
from rethink_bnn.data import digits_arrays
from rethink_bnn.events import read_scalars
from tests.keras3.conftest import several_steps_per_execution

STEPS = 20  # per epoch: 640 digits, batches of 32


class _HostLogs(keras.callbacks.Callback):
    """The reference: Keras' batch logs (running means since the epoch's start)."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in logs.items()})


def _fit(loggers, steps_per_execution=1, epochs=2, reference=None):
    keras.utils.set_random_seed(0)
    (x, y), _ = digits_arrays()
    x = x.reshape(len(x), -1)[:640].astype("float32") / 255.0
    model = keras.Sequential([
        keras.Input((64,)), rk.QuantDense(32, input_quantizer=None),
        keras.layers.BatchNormalization(), rk.QuantDense(10, input_quantizer="ste_sign"),
        keras.layers.BatchNormalization(), keras.layers.Activation("softmax")])
    model.compile(keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        rk.Bop(threshold=1e-6, gamma=1e-2), keras.optimizers.Adam(1e-2))),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        steps_per_execution=steps_per_execution)
    history = model.fit(x, y[:640], batch_size=32, epochs=epochs, shuffle=False, verbose=0,
                        callbacks=loggers + ([reference] if reference else []))
    return model, history


def _series(log_dir, tag):
    steps, values = read_scalars(log_dir / "steps", [tag])[tag]
    return steps.tolist(), np.asarray(values)


def _per_batch(running):
    """Each batch's own value from the running means after each step (equal batches)."""
    t = np.tile(np.arange(1, STEPS + 1), len(running) // STEPS)
    return np.where(t == 1, running, t * running - (t - 1) * np.roll(running, 1))


@pytest.mark.slow
def test_each_batchs_own_loss_and_accuracy_and_windows_of_several(tmp_path):
    every, fives = rk.BatchMetricLogger(tmp_path / "every", history_steps=8), \
        rk.BatchMetricLogger(tmp_path / "fives", update_freq=5)
    host = _HostLogs()
    model, history = _fit([every, fives], reference=host)
    for key in ("loss", "accuracy"):
        steps, values = _series(tmp_path / "every", f"batch_{key}")
        assert steps == list(range(1, 2 * STEPS + 1))
        running = np.array([logs[key] for logs in host.logs])
        np.testing.assert_allclose(values, _per_batch(running), atol=2e-5)
        # a window's value is the mean over its steps' examples
        steps5, values5 = _series(tmp_path / "fives", f"batch_{key}")
        assert steps5 == list(range(5, 2 * STEPS + 1, 5))
        np.testing.assert_allclose(values5, values.reshape(-1, 5).mean(axis=1), rtol=1e-5)
    accuracy = _series(tmp_path / "every", "batch_accuracy")[1]
    np.testing.assert_allclose(accuracy * 32, np.round(accuracy * 32), atol=1e-4)
    # read before the ring of 8 wraps, never per step; nothing added to Keras' logs
    for logger in (every, fives):  # one record of 8 rows, shared
        assert 2 * STEPS // 7 <= logger.reads <= 2 * STEPS // 6 + 2
    assert set(history.history) == {"loss", "accuracy"}
    # a second fit goes on from the optimizer's step
    model.fit(np.zeros((64, 64), "float32"), np.zeros(64, "int64"), batch_size=32, verbose=0,
              callbacks=[rk.BatchMetricLogger(tmp_path / "again")])
    assert _series(tmp_path / "again", "batch_loss")[0] == [41, 42]


@pytest.mark.slow
@several_steps_per_execution
def test_the_same_series_with_32_steps_per_execution(tmp_path):
    _fit([rk.BatchMetricLogger(tmp_path / "one")])
    _fit([rk.BatchMetricLogger(tmp_path / "many")], steps_per_execution=32)
    for key in ("loss", "accuracy"):
        one, many = _series(tmp_path / "one", f"batch_{key}"), _series(
            tmp_path / "many", f"batch_{key}")
        assert one[0] == many[0] == list(range(1, 2 * STEPS + 1))
        np.testing.assert_allclose(one[1], many[1], rtol=1e-6)


@pytest.mark.parametrize("arguments, error, fragment", [
    ({"log_dir": None}, TypeError, "needs log_dir"),
    ({"log_dir": True}, TypeError, "needs log_dir"),
    ({"log_dir": "x", "update_freq": 0}, ValueError, "update_freq must be an integer >= 1"),
    ({"log_dir": "x", "update_freq": "epoch"}, ValueError, "update_freq"),
    ({"log_dir": "x", "history_steps": 0}, ValueError, "history_steps must be"),
])
def test_bad_arguments_are_refused_in_one_line(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        rk.BatchMetricLogger(**arguments)


def test_a_ring_shorter_than_two_executions_is_refused_before_training(tmp_path):
    logger = rk.BatchMetricLogger(tmp_path, history_steps=1)
    with pytest.raises(ValueError, match=r"fewer than 2 x steps_per_execution \(1\)"):
        _fit([logger], epochs=1)
    assert not (tmp_path / "steps").exists()


def test_a_model_compiled_again_logs_against_its_new_optimizers_step(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    x, y = np.ones((64, 4), "float32"), np.zeros((64, 2), "float32")
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=16, verbose=0, callbacks=[rk.BatchMetricLogger(tmp_path / "a")])
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)), loss="mse")
    model.fit(x[:32], y[:32], batch_size=16, verbose=0,
              callbacks=[rk.BatchMetricLogger(tmp_path / "b")])
    assert _series(tmp_path / "a", "batch_loss")[0] == [1, 2, 3, 4]
    assert _series(tmp_path / "b", "batch_loss")[0] == [1, 2]
