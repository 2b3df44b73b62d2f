"""Per-step flips of the Keras 3 FlipLogger, on the backend this process runs: recorded
on the device inside the training step (`flip_history`), read between steps, written to
TensorBoard event files with tensorboard's writer (no TensorFlow), the same series with
`steps_per_execution` 1 and 32, each step's count that of a host read after the step."""

import keras
import numpy as np
import pytest

from rethink_bnn import keras3 as rk
from rethink_bnn.data import digits_arrays
from rethink_bnn.events import read_scalars
from tests.keras3.conftest import several_steps_per_execution

STEPS = 20  # per epoch: 640 digits, batches of 32


class _HostReads(keras.callbacks.Callback):
    """The reference: the flip counts read on the host after every step."""

    def __init__(self, bop):
        super().__init__()
        self.bop, self.counts = bop, []

    def on_train_batch_end(self, batch, logs=None):
        self.model  # on JAX, syncs the training state into the variables  # noqa: B018
        self.counts.append(np.asarray(keras.ops.convert_to_numpy(self.bop.flip_counts)))


def _fit(log_dir, steps_per_execution=1, epochs=2, update_freq=1, reference=False,
         history_steps=64, nan_batch=None):
    keras.utils.set_random_seed(0)
    (x, y), _ = digits_arrays()
    x = x.reshape(len(x), -1)[:640].astype("float32") / 255.0
    if nan_batch is not None:  # every gradient of that step NaN: SkipNonFinite skips it
        x[nan_batch * 32:(nan_batch + 1) * 32] = np.nan
    model = keras.Sequential([
        keras.Input((64,)),
        rk.QuantDense(32, input_quantizer=None, name="first"),
        keras.layers.BatchNormalization(),
        rk.QuantDense(10, input_quantizer="ste_sign", name="second"),
        keras.layers.BatchNormalization(), keras.layers.Activation("softmax")])
    bop = rk.Bop(threshold=1e-6, gamma=1e-2, history_steps=history_steps)
    optimizer = keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        bop, keras.optimizers.Adam(1e-2)))
    if nan_batch is not None:
        optimizer = rk.SkipNonFinite(optimizer)
    model.compile(optimizer, loss="sparse_categorical_crossentropy",
                  steps_per_execution=steps_per_execution)
    callbacks = [rk.FlipLogger(str(log_dir), update_freq=update_freq)]
    if reference:
        callbacks.append(_HostReads(bop))
    history = model.fit(x, y[:640], batch_size=32, epochs=epochs, shuffle=False, verbose=0,
                        callbacks=callbacks)
    return history, callbacks[-1]


def _series(log_dir, tag):
    steps, values = read_scalars(log_dir / "flips", [tag])[tag]
    return steps.tolist(), values.tolist()


@pytest.mark.slow
def test_each_steps_flips_reach_tensorboard_as_a_host_read_after_the_step_gives_them(tmp_path):
    history, host = _fit(tmp_path, reference=True)
    steps, flips = _series(tmp_path, "batch_flips")
    assert steps == list(range(1, 2 * STEPS + 1))
    counts = np.array(host.counts)  # (steps, variables), cumulative
    expected = np.diff(np.concatenate([np.zeros((1, counts.shape[1])), counts]), axis=0)
    np.testing.assert_array_equal(flips, expected.sum(axis=1))
    first = _series(tmp_path, "batch_flips/first")[1]
    np.testing.assert_array_equal(first, expected[:, 0])
    assert sum(flips) > 0
    # each epoch's per-step values add up to the epoch's, which the logs hold too
    epochs, epoch_flips = _series(tmp_path, "epoch_flips")
    assert epochs == [1, 2] and epoch_flips == history.history["flips"]
    assert [sum(flips[:STEPS]), sum(flips[STEPS:])] == epoch_flips
    ratio = _series(tmp_path, "batch_flip_ratio")[1]
    np.testing.assert_allclose(ratio, np.array(flips) / (64 * 32 + 32 * 10))
    np.testing.assert_allclose(_series(tmp_path, "batch_pi")[1],
                               np.log(np.array(ratio) + 1e-9), rtol=1e-6)


@pytest.mark.slow
@several_steps_per_execution
def test_steps_per_execution_32_and_a_short_history_log_the_same_series(tmp_path):
    _fit(tmp_path / "one")
    # 32 steps per call cross the epoch's end; 64 steps of history force reads mid-run
    _fit(tmp_path / "many", steps_per_execution=32, epochs=4, history_steps=64)
    one, many = _series(tmp_path / "one", "batch_flips"), _series(tmp_path / "many",
                                                                   "batch_flips")
    assert many[0] == list(range(1, 4 * STEPS + 1))
    assert many[0][:2 * STEPS] == one[0] and many[1][:2 * STEPS] == one[1]


@pytest.mark.slow
def test_update_freq_logs_the_mean_per_step_of_each_window(tmp_path):
    _fit(tmp_path / "every")
    _fit(tmp_path / "fifth", update_freq=5)
    every, fifth = _series(tmp_path / "every", "batch_flips"), _series(tmp_path / "fifth",
                                                                        "batch_flips")
    assert fifth[0] == list(range(5, 2 * STEPS + 1, 5))
    np.testing.assert_allclose(fifth[1], np.array(every[1]).reshape(-1, 5).mean(axis=1))


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(TypeError, match="first argument is log_dir, got False"):
        rk.FlipLogger(False)
    with pytest.raises(ValueError, match="update_freq must be an integer >= 1 or 'epoch'"):
        rk.FlipLogger("logs", update_freq=0)
    with pytest.raises(ValueError, match="history_steps must be an integer >= 1"):
        rk.Bop(history_steps=0)
    assert rk.Bop(history_steps=8).get_config()["history_steps"] == 8


@pytest.mark.slow
@several_steps_per_execution
def test_a_history_shorter_than_two_executions_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="history_steps=64 or more"):
        _fit(tmp_path, steps_per_execution=32, history_steps=32)


@pytest.mark.slow
def test_a_step_skipped_for_a_nan_logs_no_flips_and_the_next_ones_their_own(tmp_path):
    _, host = _fit(tmp_path, reference=True, nan_batch=2)
    steps, flips = _series(tmp_path, "batch_flips")
    assert steps == list(range(1, 2 * STEPS + 1))  # the skipped step is a step
    counts = np.array(host.counts)
    expected = np.diff(np.concatenate([np.zeros((1, counts.shape[1])), counts]), axis=0)
    np.testing.assert_array_equal(flips, expected.sum(axis=1))
    assert flips[2] == 0 and flips[3] > 0


@pytest.mark.slow
def test_a_model_built_by_its_first_step_logs_what_a_built_one_logs(tmp_path):
    """A Sequential without an Input is built in fit (before the callbacks on JAX and
    PyTorch, in the first step on TensorFlow, with its optimizer): the epoch logs and
    per-step scalars of FlipLogger and BatchMetricLogger are those of a model built
    before."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(12, 3)), axis=1)
    logged = {}
    for built in (True, False):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(([keras.Input((12,))] if built else []) + [
            rk.QuantDense(3, use_bias=False, name="first"), keras.layers.Activation("softmax")])
        model.compile(keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
            rk.Bop(threshold=1e-6, gamma=1e-2), keras.optimizers.Adam(1e-2))),
            loss="sparse_categorical_crossentropy")
        folder = tmp_path / str(built)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                            callbacks=[rk.FlipLogger(folder), rk.BatchMetricLogger(folder)])
        logged[built] = {"history": history.history, **{
            tag: read_scalars(folder / kind, [tag])[tag] for kind, tag in (
                ("flips", "batch_flips/first"), ("flips", "epoch_flips"),
                ("steps", "batch_loss"))}}
    for key, value in logged[True].items():
        if key == "history":
            assert logged[False][key] == value
        else:
            np.testing.assert_array_equal(np.array(logged[False][key]), np.array(value))
    assert logged[True]["batch_flips/first"][0].tolist() == list(range(1, 9))
    assert all(logged[True]["history"]["flips"])
